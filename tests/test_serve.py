"""`honeytrace serve` on a bare directory: creates its SQLite file and answers over HTTP."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import secret_part
from tests.loopback import free_port

BIN = Path(sys.executable).parent


def test_serve_creates_the_database_and_serves_the_api(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYTRACE_")}
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "honeytrace"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        assert (tmp_path / "honeytrace.db").exists()
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        assert httpx.get(f"{base}/docs").status_code == 200
        assert "/v1/links" in httpx.get(f"{base}/openapi.json").json()["paths"]

        created = subprocess.run(
            [str(BIN / "honeytrace"), "keys", "create", "--role", "security", "--json"],
            cwd=tmp_path, env=env, capture_output=True, check=True, text=True,
        )  # fmt: skip
        key = json.loads(created.stdout)["key"]
        headers = {"Authorization": f"Bearer {key}"}
        made = httpx.post(
            f"{base}/v1/links",
            json={"name": "总部", "kind": "head_office", "region": "110000", "courier": "jd"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
        assert httpx.get(f"{base}/v1/links", headers=headers).json()["total"] == 1
        assert httpx.get(f"{base}/v1/links").status_code == 401
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=15)
    logs = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    requests = [entry for entry in logs if entry.get("msg") == "request"]
    assert any(entry["path"] == "/v1/links" and entry["status"] == 201 for entry in requests)
    assert all("request_id" in entry for entry in requests)
    assert secret_part(key) not in stderr.decode()
