"""ECDP domain, one module per job: `parsing` (a POST /customers batch validated), `upsert` (the
batch applied), `lookups` (the GET lookups), `views` (what is answered), `confirmations` (consent
confirmation messages) and `definitions` (the tenant's attribute and consent definitions).
Plain functions over a session, a tenant id and `now`; no HTTP here, and no commit: the routes
own the transaction."""
