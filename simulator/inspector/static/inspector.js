// The Inspector's one script: every read and every action goes through the admin API
// (/__admin/...), as any other client's would. No build step, no library.
"use strict";

const UI = "/__admin/ui";
const ADMIN = "/__admin";
const PAGE_SIZE = 50;
const LIVE_MS = 1000;
const APIS = ["customergauge", "clienttoolbox", "talonone", "ecdp"];
const query = new URLSearchParams(location.search);
const state = { tenant: null, tenants: [] };

// --- plumbing ----------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, data, text) {
    super((data && (data.error || data.message || data.detail)) || text || `HTTP ${status}`);
    this.status = status;
    this.data = data;
  }
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { "x-simulator-inspector": "1" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (response.status === 401) {
    location.href = `${UI}/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  }
  if (!response.ok) throw new ApiError(response.status, data, text);
  return data;
}

const get = (path, params) => api("GET", params ? `${path}?${qs(params)}` : path);

function qs(params) {
  const out = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") out.set(key, value);
  }
  return out.toString();
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "onclick" || key === "onsubmit" || key === "onchange") node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const $ = (selector) => document.querySelector(selector);

// Replaces a node's children, skipping the absent ones (null, undefined, false).
function fill(node, ...children) {
  node.replaceChildren(...children.filter((child) => child !== null && child !== undefined && child !== false));
}

function flash(message, kind = "ok") {
  const box = $("#flash");
  box.replaceChildren(el("p", { class: kind, text: message }));
  if (kind === "ok") setTimeout(() => { if (box.textContent === message) box.replaceChildren(); }, 4000);
}

// Runs an action, showing its error (the admin API's own message) instead of failing silently.
async function attempt(action, done) {
  try {
    const result = await action();
    if (done) flash(typeof done === "function" ? done(result) : done);
    return result;
  } catch (error) {
    flash(`${error.status ? error.status + ": " : ""}${error.message}`, "error");
    return undefined;
  }
}

function table(columns, rows, onOpen) {
  if (!rows.length) return el("p", { class: "muted", text: "Nothing here." });
  const head = el("tr", {}, columns.map((c) => el("th", { scope: "col", text: c[0] })));
  const body = rows.map((row) => {
    const cells = columns.map((c) => {
      const value = c[1](row);
      return el("td", {}, value instanceof Node ? value : value === null || value === undefined ? "" : String(value));
    });
    const tr = el("tr", {}, cells);
    if (onOpen) {
      tr.tabIndex = 0;
      tr.classList.add("openable");
      tr.addEventListener("click", () => onOpen(row, tr));
      tr.addEventListener("keydown", (event) => { if (event.key === "Enter") onOpen(row, tr); });
    }
    return tr;
  });
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

function button(label, onclick, extra) {
  return el("button", { type: "button", onclick, ...(extra || {}) }, label);
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {  // no clipboard permission: the old way
    const area = el("textarea", {}, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  flash("Copied.");
}

function copyable(text) {
  return el("span", { class: "copyable" }, el("code", { text }), button("Copy", () => copy(text), { "aria-label": "Copy" }));
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// A paged list: `load(page)` answers the rows of page `page` (0-based); Next while a page is full.
function pagedList(container, columns, load, onOpen, pageSize = PAGE_SIZE) {
  let page = 0;
  const holder = el("div");
  const info = el("span", { class: "muted" });
  const prev = button("Previous", () => { if (page > 0) { page -= 1; show(); } });
  const next = button("Next", () => { page += 1; show(); });
  container.replaceChildren(holder, el("div", { class: "pager" }, prev, " ", next, " ", info));
  async function show() {
    const rows = await attempt(() => load(page, pageSize));
    if (!rows) return;
    holder.replaceChildren(table(columns, rows, onOpen));
    prev.disabled = page === 0;
    next.disabled = rows.length < pageSize;
    info.textContent = `page ${page + 1}`;
  }
  show();
  return { reload: show };
}

function tenantPath(...parts) {
  return `${ADMIN}/tenants/${encodeURIComponent(state.tenant)}/${parts.join("/")}`;
}

function pretty(text, contentType) {
  if (!text) return "";
  const type = (contentType || "").toLowerCase();
  const trimmed = text.trim();
  if (type.includes("json") || /^[[{]/.test(trimmed)) {
    try { return JSON.stringify(JSON.parse(trimmed), null, 2); } catch (_) { /* not JSON */ }
  }
  if (type.includes("xml") || trimmed.startsWith("<")) return prettyXml(trimmed);
  if (type.includes("x-www-form-urlencoded") || /^[\w.%-]+=[^\s]*(&[\w.%-]+=[^\s]*)*$/.test(trimmed)) {
    try {
      return [...new URLSearchParams(trimmed).entries()].map(([k, v]) => `${k} = ${v}`).join("\n");
    } catch (_) { /* not a form */ }
  }
  return text;
}

function prettyXml(text) {
  const doc = new DOMParser().parseFromString(text, "application/xml");
  if (doc.getElementsByTagName("parsererror").length) return text;
  const lines = [];
  const walk = (node, depth) => {
    const pad = "  ".repeat(depth);
    const elements = [...node.childNodes].filter((c) => c.nodeType === 1);
    const attrs = [...node.attributes].map((a) => ` ${a.name}="${a.value}"`).join("");
    if (!elements.length) {
      const inner = node.textContent.trim();
      lines.push(inner ? `${pad}<${node.nodeName}${attrs}>${inner}</${node.nodeName}>` : `${pad}<${node.nodeName}${attrs}/>`);
      return;
    }
    lines.push(`${pad}<${node.nodeName}${attrs}>`);
    elements.forEach((child) => walk(child, depth + 1));
    lines.push(`${pad}</${node.nodeName}>`);
  };
  walk(doc.documentElement, 0);
  return lines.join("\n");
}

function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

// --- the tenant every page is about ------------------------------------------------------

async function loadTenants() {
  const data = await attempt(() => get(`${ADMIN}/tenants`));
  state.tenants = data ? data.tenants : [];
  const wanted = query.get("tenant") || sessionStorage.getItem("inspector.tenant") || "default";
  const known = state.tenants.find((t) => t.id === wanted) || state.tenants[0];
  state.tenant = known ? known.id : wanted;
  sessionStorage.setItem("inspector.tenant", state.tenant);
  const select = $("#tenant-select");
  select.replaceChildren(...state.tenants.map((t) => el("option", { value: t.id, selected: t.id === state.tenant }, t.name && t.name !== t.id ? `${t.id} (${t.name})` : t.id)));
  select.addEventListener("change", () => {
    sessionStorage.setItem("inspector.tenant", select.value);
    const next = new URLSearchParams(location.search);
    next.set("tenant", select.value);
    location.search = next.toString();
  });
  document.querySelectorAll("[data-nav]").forEach((a) => { a.href = `${UI}/${a.dataset.nav}?tenant=${encodeURIComponent(state.tenant)}`; });
  document.querySelectorAll(".tenant-name").forEach((n) => { n.textContent = state.tenant; });
}

function currentTenant() {
  return state.tenants.find((t) => t.id === state.tenant);
}

// --- Tenants -----------------------------------------------------------------------------

const CURL_BASE = location.origin;

function credentialLines(tenant) {
  const c = tenant.credentials;
  return [
    ["CustomerGauge", `Authorization: api_key ${c.customergauge.api_key}`,
      `curl -s ${CURL_BASE}/v4.1/lists/bounce.json -H ${shellQuote(`Authorization: api_key ${c.customergauge.api_key}`)}`],
    ["ClientToolbox", `user_id=${c.clienttoolbox.user_id} user_api_key=${c.clienttoolbox.user_api_key} account_id=${c.clienttoolbox.account_id}`,
      `curl -s ${CURL_BASE}/api.php -d API=1.5 -d user_id=${c.clienttoolbox.user_id} -d user_api_key=${c.clienttoolbox.user_api_key} -d account_id=${c.clienttoolbox.account_id} -d type=campaigns_list -d output=JSON`],
    ["Talon.One", `Authorization: ApiKey-v1 ${c.talonone.api_key}`,
      `curl -s ${CURL_BASE}/v1/customer_profiles/customer-1/inventory?profile=true -H ${shellQuote(`Authorization: ApiKey-v1 ${c.talonone.api_key}`)}`],
    ["ECDP", `x-api-key: ${c.ecdp.api_key}`,
      `curl -s ${CURL_BASE}/customerconsents -H ${shellQuote(`x-api-key: ${c.ecdp.api_key}`)}`],
  ];
}

function showCredentials() {
  const tenant = currentTenant();
  $("#cred-tenant").textContent = state.tenant;
  if (!tenant) { $("#credentials").replaceChildren(); return; }
  $("#credentials").replaceChildren(table(
    [["API", (r) => r[0]], ["Credentials", (r) => copyable(r[1])], ["Try it", (r) => copyable(r[2])]],
    credentialLines(tenant),
  ));
}

function renderTenants() {
  const rows = state.tenants;
  $("#tenants-table").replaceChildren(table([
    ["Id", (t) => t.id], ["Name", (t) => t.name], ["Fixtures", (t) => t.fixtures],
    ["Clock", (t) => `${t.clock.now}${t.clock.frozen ? " (frozen)" : ""}`], ["Created", (t) => t.created],
    ["", (t) => el("span", { class: "actions" },
      button("Select", () => { state.tenant = t.id; sessionStorage.setItem("inspector.tenant", t.id); location.search = `tenant=${encodeURIComponent(t.id)}`; }),
      button("Reset", () => resetTenant(t.id)),
      button("Delete", () => deleteTenant(t.id), { class: "danger" }))],
  ], rows));
  showCredentials();
}

async function refreshTenants() {
  const data = await attempt(() => get(`${ADMIN}/tenants`));
  if (data) { state.tenants = data.tenants; renderTenants(); }
}

async function resetTenant(id) {
  if (!confirm(`Reset tenant ${id} to its fixtures? Its data goes back to what the fixtures hold.`)) return;
  await attempt(() => api("POST", `${ADMIN}/tenants/${encodeURIComponent(id)}/reset`), `Tenant ${id} reset.`);
  refreshTenants();
}

async function deleteTenant(id) {
  if (!confirm(`Delete tenant ${id} and all its data?`)) return;
  await attempt(() => api("DELETE", `${ADMIN}/tenants/${encodeURIComponent(id)}`), `Tenant ${id} deleted.`);
  refreshTenants();
}

function initTenants() {
  renderTenants();
  $("#create-tenant").addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = formValues(event.target);
    const created = await attempt(() => api("POST", `${ADMIN}/tenants`, { name: values.name || null, fixtures: values.fixtures }), (t) => `Tenant ${t.id} created.`);
    if (created) { state.tenant = created.id; sessionStorage.setItem("inspector.tenant", created.id); refreshTenants(); }
  });
}

// --- Traffic -----------------------------------------------------------------------------

const traffic = { entries: [], filters: {}, older: null, timer: null, selected: null };

function trafficFilters() {
  const values = formValues($("#traffic-filters"));
  return { tenant: values.tenant, api: values.api, operation: values.operation.trim(), status: values.status.trim(), q: values.q };
}

function trafficColumns() {
  return [
    ["Time", (e) => e.time.slice(11, 23)], ["Tenant", (e) => e.tenant || "—"], ["API", (e) => e.api],
    ["Operation", (e) => e.operation || "(no route)"], ["Method", (e) => e.method],
    ["Path", (e) => e.path + (e.query ? `?${e.query}` : "")],
    ["Status", (e) => el("span", { class: `status s${String(e.status)[0]}` }, String(e.status))],
    ["ms", (e) => e.durationMs], ["Fault", (e) => (e.fault ? el("span", { class: "badge fault" }, `fault ${e.fault}`) : "")],
  ];
}

function renderTraffic() {
  $("#traffic-table").replaceChildren(table(trafficColumns(), traffic.entries, showEntry));
  $("#traffic-older").disabled = traffic.entries.length < PAGE_SIZE && traffic.older === null;
}

async function loadTraffic(before) {
  const data = await attempt(() => get(`${ADMIN}/requests`, { ...traffic.filters, before, limit: PAGE_SIZE }));
  if (!data) return;
  traffic.older = before || null;
  traffic.entries = data.requests;
  renderTraffic();
}

async function pollTraffic() {
  if (!$("#live").checked || traffic.older !== null) return;
  const newest = traffic.entries.length ? traffic.entries[0].id : 0;
  let data;
  try {
    data = await get(`${ADMIN}/requests`, { ...traffic.filters, after: newest, limit: PAGE_SIZE });
  } catch (error) {
    return;  // shown when the user filters again
  }
  if (data.requests.length) {
    traffic.entries = [...data.requests, ...traffic.entries].slice(0, PAGE_SIZE);
    renderTraffic();
  }
}

function curlOf(entry) {
  const tenant = state.tenants.find((t) => t.id === entry.tenant);
  const parts = [`curl -s -X ${entry.method} ${shellQuote(CURL_BASE + entry.path + (entry.query ? `?${entry.query}` : ""))}`];
  for (const [name, value] of Object.entries(entry.requestHeaders || {})) {
    if (name !== "content-length") parts.push(`-H ${shellQuote(`${name}: ${value}`)}`);
  }
  if (tenant) {
    const c = tenant.credentials;
    const auth = {
      customergauge: `Authorization: api_key ${c.customergauge.api_key}`,
      talonone: `Authorization: ApiKey-v1 ${c.talonone.api_key}`,
      ecdp: `x-api-key: ${c.ecdp.api_key}`,
    }[entry.api];
    if (auth) parts.push(`-H ${shellQuote(auth)}`);
  } else if (entry.api !== "clienttoolbox") {
    parts.push("-H 'Authorization: <the tenant credential>'");
  }
  if (entry.requestBody) parts.push(`--data-binary ${shellQuote(entry.requestBody)}`);
  return parts.join(" \\\n  ");
}

function headerList(headers) {
  const names = Object.keys(headers || {});
  if (!names.length) return el("p", { class: "muted", text: "none kept" });
  return el("dl", { class: "headers" }, names.flatMap((n) => [el("dt", { text: n }), el("dd", { text: headers[n] })]));
}

function showEntry(entry) {
  traffic.selected = entry.id;
  const requestType = (entry.requestHeaders || {})["content-type"];
  const responseType = (entry.responseHeaders || {})["content-type"];
  fill($("#traffic-detail"),
    el("h2", {}, `${entry.method} ${entry.path}`),
    el("p", {}, `#${entry.id} · ${entry.time} · tenant ${entry.tenant || "none"} · ${entry.api} ${entry.operation || "(no route)"} · ${entry.durationMs} ms`),
    entry.fault ? el("p", { class: "badge fault" }, `Fault injected (rule ${entry.fault})`) : el("p", { class: "muted" }, "No fault injected."),
    button("Copy as curl", () => copy(curlOf(entry)), { id: "copy-curl" }),
    el("h3", { text: "Request" }),
    entry.query ? el("p", {}, el("code", { text: `?${entry.query}` })) : null,
    headerList(entry.requestHeaders),
    el("pre", { class: "body request-body", text: pretty(entry.requestBody, requestType) || "(no body)" }),
    el("h3", {}, "Response ", el("span", { class: `status s${String(entry.status)[0]}` }, String(entry.status))),
    headerList(entry.responseHeaders),
    el("pre", { class: "body response-body", text: pretty(entry.responseBody, responseType) || "(no body)" }),
  );
}

function initTraffic() {
  const select = $("#traffic-tenant");
  select.append(...state.tenants.map((t) => el("option", { value: t.id, selected: t.id === state.tenant && query.has("tenant") }, t.id)));
  for (const name of ["api", "operation", "status", "q"]) {
    const field = $(`#traffic-filters [name=${name}]`);
    if (query.get(name)) field.value = query.get(name);
  }
  $("#traffic-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    traffic.filters = trafficFilters();
    loadTraffic();
  });
  $("#traffic-newest").addEventListener("click", () => loadTraffic());
  $("#traffic-older").addEventListener("click", () => {
    if (traffic.entries.length) loadTraffic(traffic.entries[traffic.entries.length - 1].id);
  });
  traffic.filters = trafficFilters();
  loadTraffic();
  traffic.timer = setInterval(pollTraffic, LIVE_MS);
}

// --- Faults and clock --------------------------------------------------------------------

async function showClock() {
  const clock = await attempt(() => get(tenantPath("clock")));
  if (!clock) return;
  $("#clock-now").textContent = clock.now;
  $("#clock-state").textContent = clock.frozen ? "frozen" : "running";
}

async function setClock(body, message) {
  await attempt(() => api("PUT", tenantPath("clock"), body), message);
  showClock();
}

function ruleSummary(rule) {
  const skip = new Set(["id", "tenant", "source", "hits", "matched", "created", "expires"]);
  return Object.entries(rule).filter(([k]) => !skip.has(k)).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(", ");
}

async function showFaults() {
  const data = await attempt(() => get(`${ADMIN}/faults`));
  if (!data) return;
  $("#faults-table").replaceChildren(table([
    ["Id", (r) => r.id], ["Tenant", (r) => r.tenant || "every tenant"], ["Rule", ruleSummary],
    ["Source", (r) => r.source], ["Hits", (r) => r.hits], ["Matched", (r) => r.matched],
    ["", (r) => button("Remove", async () => { await attempt(() => api("DELETE", `${ADMIN}/faults/${r.id}`), `Rule ${r.id} removed.`); showFaults(); })],
  ], data.faults));
  $("#profiles").replaceChildren(table([
    ["Profile", (p) => p[0]], ["What it does", (p) => p[1]],
    ["", (p) => button(`Apply to ${state.tenant}`, () => addFaults({ profile: p[0], tenant: state.tenant }))],
  ], Object.entries(data.profiles)));
}

async function addFaults(document) {
  const added = await attempt(() => api("POST", `${ADMIN}/faults`, document), (r) => `Added rule ${r.faults.map((f) => f.id).join(", ")}.`);
  if (added) showFaults();
}

function initFaults() {
  showClock();
  showFaults();
  $("#clock-freeze").addEventListener("click", () => setClock({ frozen: true }, "Clock frozen."));
  $("#clock-unfreeze").addEventListener("click", () => setClock({ frozen: false }, "Clock running."));
  $("#clock-advance").addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = formValues(event.target);
    await attempt(() => api("POST", tenantPath("clock", "advance"), { days: Number(v.days || 0), hours: Number(v.hours || 0), minutes: Number(v.minutes || 0) }), "Clock advanced.");
    showClock();
  });
  $("#clock-set").addEventListener("submit", (event) => {
    event.preventDefault();
    setClock({ now: formValues(event.target).now }, "Clock set.");
  });
  $("#fault-add").addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(event.target);
    const rule = {};
    if (v.api) rule.api = v.api;
    if (v.operation) rule.operation = v.operation.trim();
    if (v.error) rule.error = Number(v.error);
    if (v.probability !== "" && Number(v.probability) !== 1) rule.probability = Number(v.probability);
    if (v.latency) rule.latency = v.latency.trim();
    if (v.scoped) rule.tenant = state.tenant;
    addFaults(rule);
  });
  $("#fault-json").addEventListener("submit", (event) => {
    event.preventDefault();
    let document;
    try { document = JSON.parse(formValues(event.target).document); } catch (error) { flash(`Not JSON: ${error.message}`, "error"); return; }
    addFaults(document);
  });
  $("#faults-clear").addEventListener("click", async () => {
    if (!confirm("Remove every fault rule?")) return;
    await attempt(() => api("DELETE", `${ADMIN}/faults`), (r) => `${r.deleted} rules removed.`);
    showFaults();
  });
}

// --- ClientToolbox -----------------------------------------------------------------------

function balancesText(balances) {
  return balances.map((b) => `${b.campaign_id}${b.item ? ` (${b.item})` : ""}: ${b.balance}`).join("; ");
}

let ctCustomers = null;
let ctQuery = "";

function showCtTransactions(customer) {
  $("#ct-customer-panel").hidden = false;
  $("#ct-customer-code").textContent = customer.code;
  pagedList($("#ct-transactions"), [
    ["Id", (t) => t.id], ["Campaign", (t) => t.campaign_id], ["Redeemed", (t) => (t.redeemed ? "yes" : "no")],
    ["Amount", (t) => t.amount], ["Value", (t) => t.value], ["Date", (t) => t.date], ["Batch", (t) => t.batch],
  ], async (page, size) => (await get(tenantPath("clienttoolbox", "customers", encodeURIComponent(customer.code), "transactions"), { start: page * size, limit: size })).transactions);
}

async function showUndoStates() {
  const data = await attempt(() => get(tenantPath("clienttoolbox", "undo-states"), { limit: PAGE_SIZE }));
  if (!data) return;
  $("#ct-undo").replaceChildren(table([
    ["Batch", (s) => s.id], ["Type", (s) => s.type], ["Lines", (s) => s.lines], ["Status", (s) => s.status],
    ["Created", (s) => s.created], ["Undone", (s) => s.undone || ""],
    ["", (s) => (s.status === "undone" || s.undone ? "" : button("Undo", () => undoBatch(s.id), { "data-undo": s.id }))],
  ], data.undoStates));
}

async function undoBatch(id) {
  const done = await attempt(() => api("POST", tenantPath("clienttoolbox", "undo-states", id, "undo")), `Batch ${id} undone.`);
  if (done) { showUndoStates(); ctCustomers.reload(); }
}

function initClientToolbox() {
  attempt(async () => {
    const data = await get(tenantPath("clienttoolbox", "campaigns"));
    $("#ct-campaigns").replaceChildren(table([["Id", (c) => c.id], ["Name", (c) => c.name], ["Type", (c) => c.type], ["Currency", (c) => c.currency]], data.campaigns));
  });
  ctCustomers = pagedList($("#ct-customers"), [
    ["Code", (c) => c.code], ["Name", (c) => c.name], ["E-mail", (c) => c.email], ["Card", (c) => c.cardNumber || ""],
    ["Last batch", (c) => c.lastBatch], ["Balances", (c) => el("span", { class: "balances" }, balancesText(c.balances))],
  ], async (page, size) => (await get(tenantPath("clienttoolbox", "customers"), { start: page * size, limit: size, q: ctQuery })).customers, showCtTransactions);
  $("#ct-search").addEventListener("submit", (event) => { event.preventDefault(); ctQuery = formValues(event.target).q; ctCustomers.reload(); });
  showUndoStates();
}

// --- Talon.One ---------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// The ledger's running total after each transaction, as a step line up to the tenant's "now".
function balanceChart(history, now) {
  const width = 720; const height = 220; const pad = 40;
  if (!history.length) return el("p", { class: "muted", text: "No transactions yet." });
  const points = [...history, { time: now, balance: history[history.length - 1].balance }];
  const times = points.map((p) => Date.parse(p.time));
  const values = points.map((p) => p.balance);
  const t0 = Math.min(...times); const t1 = Math.max(...times, t0 + 1);
  const v0 = Math.min(0, ...values); const v1 = Math.max(...values, v0 + 1);
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - v0) / (v1 - v0)) * (height - 2 * pad);
  let path = `M ${x(times[0])} ${y(values[0])}`;
  for (let i = 1; i < points.length; i += 1) path += ` H ${x(times[i])} V ${y(values[i])}`;
  return svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Ledger total over time" },
    svg("title", {}, "Ledger total (additions less deductions) over time, on the tenant's clock"),
    svg("line", { class: "axis", x1: pad, y1: height - pad, x2: width - pad, y2: height - pad }),
    svg("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: height - pad }),
    svg("text", { x: pad, y: height - pad + 16 }, points[0].time.slice(0, 10)),
    svg("text", { x: width - pad, y: height - pad + 16, "text-anchor": "end" }, `${now.slice(0, 16)} (now)`),
    svg("text", { x: pad - 4, y: y(v1) + 4, "text-anchor": "end" }, String(v1)),
    svg("text", { x: pad - 4, y: y(v0) + 4, "text-anchor": "end" }, String(v0)),
    svg("path", { class: "line", d: path }));
}

let ledgerQuery = null;

async function showLedger() {
  if (!ledgerQuery) return;
  const { program, ...owner } = ledgerQuery;
  const path = tenantPath("talonone", "loyalty", "programs", program, "ledger");
  const data = await attempt(() => get(path, { ...owner, limit: 1 }));
  if (!data) return;
  const totals = data.totals;
  const tiers = (data.program.tiers || []).map((t) => `${t.name} from ${t.minPoints}`).join(", ");
  const lots = el("div");
  fill($("#ledger"),
    el("p", {}, `${data.program.title || data.program.name} · ${data.cardIdentifier ? `card ${data.cardIdentifier}` : `profile ${data.profileId}`} · on the tenant clock ${data.now}`),
    el("p", { id: "ledger-totals" },
      el("span", { class: "lot-active" }, `active ${totals.active}`), " · ",
      el("span", { class: "lot-pending" }, `pending ${totals.pending}`), " · ",
      el("span", { class: "lot-expired" }, `expired ${totals.expired}`), " · ",
      el("span", { class: "lot-spent" }, `spent ${totals.spent}`), ` · ${totals.lots} lots`),
    tiers ? el("p", {}, `Tiers: ${tiers}`) : null,
    balanceChart(data.history, data.now),
    lots,
  );
  pagedList(lots, [
    ["Lot", (l) => l.id], ["Name", (l) => l.name], ["Status", (l) => el("span", { class: `lot-${l.status} lot-status` }, l.status)],
    ["Amount", (l) => l.amount], ["Remaining", (l) => l.remaining], ["Spent", (l) => l.spent],
    ["Starts", (l) => l.start], ["Expires", (l) => l.expiry], ["Session", (l) => l.sessionId || ""],
  ], async (page, size) => (await get(path, { ...owner, start: page * size, limit: size })).lots);
}

function initTalonOne() {
  attempt(async () => {
    const data = await get(tenantPath("talonone", "loyalty", "programs"));
    $("#ledger-program").replaceChildren(...data.loyaltyPrograms.map((p) => el("option", { value: p.id }, `${p.id} ${p.title || p.name}${p.cardBased ? " (cards)" : ""}`)));
    if (query.get("program")) $("#ledger-program").value = query.get("program");
    const form = $("#ledger-form");
    for (const name of ["profileId", "cardIdentifier", "subledgerId"]) if (query.get(name)) form.elements[name].value = query.get(name);
    if (query.get("profileId") || query.get("cardIdentifier")) form.requestSubmit();
  });
  $("#ledger-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const v = formValues(event.target);
    ledgerQuery = { program: v.program, profileId: v.cardIdentifier ? "" : v.profileId, cardIdentifier: v.cardIdentifier, subledgerId: v.subledgerId };
    showLedger();
  });
  pagedList($("#talon-sessions"), [
    ["Session", (s) => s.customerSession.integrationId], ["Profile", (s) => s.customerSession.profileId],
    ["State", (s) => s.customerSession.state], ["Total", (s) => s.customerSession.total],
    ["Effects", (s) => (s.effects || []).map((e) => e.effectType).join(", ")],
  ], (page, size) => get(tenantPath("talonone", "sessions"), { start: page * size, limit: size }));
  let profileQuery = "";
  const profiles = pagedList($("#talon-profiles"), [
    ["Integration id", (p) => p.integrationId], ["Closed sessions", (p) => p.closedSessions], ["Total sales", (p) => p.totalSales],
    ["Last activity", (p) => p.lastActivity],
  ], async (page, size) => (await get(tenantPath("talonone", "profiles"), { start: page * size, limit: size, q: profileQuery })).profiles,
  (p) => { const form = $("#ledger-form"); form.elements.profileId.value = p.integrationId; form.elements.cardIdentifier.value = ""; form.requestSubmit(); });
  $("#profile-search").addEventListener("submit", (event) => { event.preventDefault(); profileQuery = formValues(event.target).q; profiles.reload(); });
  let couponQuery = "";
  const coupons = pagedList($("#talon-coupons"), [
    ["Code", (c) => c.value], ["Campaign", (c) => c.campaignId], ["Used", (c) => `${c.usageCounter}${c.usageLimit ? ` / ${c.usageLimit}` : ""}`],
    ["Recipient", (c) => c.recipientIntegrationId || ""], ["Expires", (c) => c.expiryDate || ""], ["Reserved by", (c) => c.reservations.join(", ")],
  ], async (page, size) => (await get(tenantPath("talonone", "coupons"), { start: page * size, limit: size, q: couponQuery })).coupons);
  $("#coupon-search").addEventListener("submit", (event) => { event.preventDefault(); couponQuery = formValues(event.target).q; coupons.reload(); });
  pagedList($("#talon-referrals"), [
    ["Code", (r) => r.code], ["Campaign", (r) => r.campaignId], ["Advocate", (r) => r.advocateProfileIntegrationId],
    ["Friend", (r) => r.friendProfileIntegrationId || ""], ["Used", (r) => r.usageCounter],
  ], async (page, size) => (await get(tenantPath("talonone", "referrals"), { start: page * size, limit: size })).referrals);
  pagedList($("#talon-audiences"), [
    ["Id", (a) => a.id], ["Name", (a) => a.name], ["Integration", (a) => a.integration || ""], ["Members", (a) => a.members],
  ], async (page, size) => (await get(tenantPath("talonone", "audiences"), { start: page * size, limit: size })).audiences);
}

// --- CustomerGauge -----------------------------------------------------------------------

async function showWorker(view) {
  const data = view || await attempt(() => get(tenantPath("customergauge", "worker")));
  if (data) $("#cg-worker").textContent = data.paused ? "paused" : "running";
}

function initCustomerGauge() {
  showWorker();
  const uploads = pagedList($("#cg-uploads"), [
    ["Upload", (u) => u.id], ["Status", (u) => u.status], ["Attempts", (u) => u.attempts], ["Records", (u) => u.totalRecords],
    ["Good", (u) => u.successfulRecords], ["Bad", (u) => u.unsuccessfulRecords], ["Received", (u) => u.received],
    ["Logs", (u) => (u.logs || []).join("; ")],
  ], async (page, size) => (await get(tenantPath("customergauge", "uploads"), { start: page * size, limit: size })).uploads);
  let mailFilter = {};
  const mails = pagedList($("#cg-mails"), [
    ["Mail", (m) => m.id], ["Upload", (m) => m.upload], ["E-mail", (m) => m.email], ["Status", (m) => m.status],
    ["Reason", (m) => m.reason || ""], ["Send at", (m) => m.sendAt || ""], ["Sent at", (m) => m.sentAt || ""],
  ], async (page, size) => (await get(tenantPath("customergauge", "mail-queue"), { ...mailFilter, start: page * size, limit: size })).mails);
  $("#cg-mail-filter").addEventListener("submit", (event) => { event.preventDefault(); mailFilter = formValues(event.target); mails.reload(); });
  // The queues by status; a mail status opens the mail queue filtered by it.
  const showCounts = async () => {
    const counts = await attempt(() => get(tenantPath("customergauge", "counts")));
    if (!counts) return;
    const mailButtons = Object.entries(counts.mails).map(([status, n]) => button(`${status} ${n}`, () => {
      $("#cg-mail-filter [name=status]").value = status;
      mailFilter = { status };
      mails.reload();
    }, { "data-mail-status": status }));
    fill($("#cg-counts"),
      el("p", { id: "cg-upload-counts" }, "Uploads: ", Object.entries(counts.uploads).map(([status, n]) => `${status} ${n}`).join(" · ")),
      el("p", { class: "inline" }, "Mails: ", ...mailButtons));
  };
  showCounts();
  $("#cg-process").addEventListener("click", async () => {
    await attempt(() => api("POST", tenantPath("customergauge", "process")), (r) => `Processed ${r.processed.length} uploads, sent ${r.sent} mails.`);
    uploads.reload(); mails.reload(); showCounts();
  });
  $("#cg-pause").addEventListener("click", async () => showWorker(await attempt(() => api("POST", tenantPath("customergauge", "worker", "pause")), "Worker paused.")));
  $("#cg-resume").addEventListener("click", async () => showWorker(await attempt(() => api("POST", tenantPath("customergauge", "worker", "resume")), "Worker resumed.")));
  $("#cg-list-add").addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = formValues(event.target);
    await attempt(() => api("POST", tenantPath("customergauge", v.list), { email: v.email, reason: v.reason }), `${v.email} added.`);
    mails.reload();
  });
}

// --- ECDP --------------------------------------------------------------------------------

function consentsText(customer) {
  return customer.consentsData.consents.map((c) => `${c.id}: ${c.value}`).join(", ");
}

function initEcdp() {
  let search = {};
  const customers = pagedList($("#ecdp-customers"), [
    ["Id", (c) => c.id], ["E-mail", (c) => c.email || ""], ["Phone", (c) => c.phone || ""], ["CRM id", (c) => c.crmId || ""],
    ["Name", (c) => [c.firstName, c.lastName].filter(Boolean).join(" ")], ["Consents", consentsText],
  ], async (page, size) => (await get(tenantPath("ecdp", "customers"), { ...search, start: page * size, limit: size })).customers);
  $("#ecdp-search").addEventListener("submit", (event) => { event.preventDefault(); search = formValues(event.target); customers.reload(); });
  const showConfirmations = async () => {
    const data = await attempt(() => get(tenantPath("ecdp", "confirmations")));
    if (!data) return;
    $("#ecdp-confirmations").replaceChildren(table([
      ["Id", (m) => m.id], ["Customer", (m) => m.customerId], ["E-mail", (m) => m.email || ""], ["Consents", (m) => m.consentIds.join(", ")],
      ["Status", (m) => m.status || (m.confirmed ? "confirmed" : "sent")],
      ["", (m) => (m.confirmed ? "" : button("Confirm", async () => { await attempt(() => api("POST", tenantPath("ecdp", "confirmations", m.id, "confirm")), "Confirmed."); showConfirmations(); customers.reload(); }))],
    ], data.confirmations.slice(-PAGE_SIZE).reverse()));
  };
  showConfirmations();
}

// --- start -------------------------------------------------------------------------------

const SECTIONS = {
  tenants: initTenants,
  traffic: initTraffic,
  faults: initFaults,
  clienttoolbox: initClientToolbox,
  talonone: initTalonOne,
  customergauge: initCustomerGauge,
  ecdp: initEcdp,
};

document.addEventListener("DOMContentLoaded", async () => {
  await loadTenants();
  const init = SECTIONS[document.body.dataset.section];
  if (init) init();
  document.body.dataset.ready = "true";
});
