"""`simulator worker`: the stream worker as its own process beside a server that runs none."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, live_database_url, start_server, stop_server

RECORDS = (
    "<?xml version='1.0' encoding='utf-8'?><records>"
    "<record><Email>ada@example.com</Email><FirstName>Ada</FirstName></record>"
    "</records>"
)


def test_a_separate_worker_process_processes_uploads(tmp_path: Path) -> None:
    database_url = live_database_url(tmp_path, "sim_e2e_worker")
    server = start_server(database_url, extra_env={"SIM_RUN_WORKER": "false"})
    worker = subprocess.Popen(
        [sys.executable, "-m", "simulator", "worker"],
        cwd=ROOT,
        env={**os.environ, "SIM_DATABASE_URL": database_url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        headers = {"Authorization": "api_key cg-sandbox-key"}
        response = httpx.post(
            f"{server.url}/v4.1/stream/transactional.json", content=RECORDS, headers=headers
        )
        assert response.json() == {"Data": True}
        upload_id = response.headers["X-Upload-Id"]
        status = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            data = httpx.get(
                f"{server.url}/v4.1/file/transactional.json",
                params={"id": upload_id},
                headers=headers,
            ).json()["Data"]
            status = data[0]["status"] if data else None
            if status == "Processed":
                break
            time.sleep(0.1)
        assert status == "Processed"
        assert worker.poll() is None  # still running, waiting for more
    finally:
        worker.terminate()
        worker.wait(timeout=10)
        stop_server(server)
