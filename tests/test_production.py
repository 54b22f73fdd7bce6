"""The production shape: deploy/compose.yaml (PostgreSQL, the migration, `honeytrace serve`,
`honeytrace worker`) and deploy/run-local.sh, the same shape without Docker, kept in step;
the script is run here and a scan goes through its separate worker."""

import csv
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, make_url, text

from app.settings import Settings
from tests.conftest import POSTGRES_URL, ROOT, scratch_postgres_database
from tests.loopback import free_port
from tests.test_packaging import healthcheck

COMPOSE = ROOT / "deploy" / "compose.yaml"
SCRIPT = ROOT / "deploy" / "run-local.sh"
SETTING_NAMES = {f"HONEYTRACE_{name.upper()}" for name in Settings.model_fields}
# The script gives each process its own canary index file, as separate containers have.
SCRIPT_ONLY = {"HONEYTRACE_INDEX_PATH"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _service_settings(service: str) -> dict[str, str]:
    environment: dict[str, str] = _compose()["services"][service]["environment"]
    return {k: v for k, v in environment.items() if k.startswith("HONEYTRACE_")}


def test_compose_runs_the_migration_then_serve_and_worker_on_postgres() -> None:
    services = _compose()["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["migrate"]["command"] == ["honeytrace", "db", "upgrade"]
    assert services["serve"]["command"] == ["honeytrace", "serve"]
    assert services["worker"]["command"] == ["honeytrace", "worker"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("serve", "worker"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        settings = _service_settings(name)
        assert settings["HONEYTRACE_ENVIRONMENT"] == "production"
        assert settings["HONEYTRACE_DATABASE_URL"].startswith("postgresql+psycopg://")
        # Secrets come from deploy/.env, never from the file itself.
        assert settings["HONEYTRACE_SECRET_KEY"].startswith("${HONEYTRACE_SECRET_KEY:?")
        assert "${POSTGRES_PASSWORD:?" in settings["HONEYTRACE_DATABASE_URL"]
        # One process writes an upload or an evidence blob, another reads it: shared.
        assert settings["HONEYTRACE_SCAN_SPOOL_DIR"].startswith("/var/lib/honeytrace/")
        assert settings["HONEYTRACE_EVIDENCE_DIR"].startswith("/var/lib/honeytrace/")
        assert services[name]["volumes"] == ["files:/var/lib/honeytrace"]
        assert set(settings) <= SETTING_NAMES, set(settings) - SETTING_NAMES
    assert "HONEYTRACE_JOBS_IN_PROCESS" not in _service_settings("serve")
    # The image's health check asks serve's /readyz: containers that serve nothing skip it.
    assert "healthcheck" not in services["serve"]
    for name in ("migrate", "worker"):
        assert services[name]["healthcheck"] == {"disable": True}
    # deploy/.env holds the secrets compose reads: never in an image's build context.
    assert {".env", "**/.env"} <= set((ROOT / ".dockerignore").read_text().splitlines())


def test_the_script_sets_what_compose_sets() -> None:
    script = SCRIPT.read_text(encoding="utf-8")
    named = set(re.findall(r"\bHONEYTRACE_[A-Z_]+\b", script)) - {"HONEYTRACE_BIN"}
    compose = set(_service_settings("serve")) | set(_service_settings("worker"))
    assert named == compose | SCRIPT_ONLY
    assert named <= SETTING_NAMES


def _environment() -> dict[str, str]:
    url = make_url(POSTGRES_URL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HONEYTRACE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(PGHOST=url.host or "127.0.0.1", PGPORT=str(url.port or 5432))
    env["PGUSER"] = url.username or "postgres"
    return env


def _until(condition: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return value


def _leak(canaries: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    rows = csv.writer(out)
    rows.writerow(["物流单号", "收货人姓名", "联系手机", "省", "市", "区", "详细地址"])
    for c in canaries:
        rows.writerow(
            [c["waybill_no"], c["name"], c["mobile"], c["province"], c["city"], c["district"],
             c["address"]]
        )  # fmt: skip
    return out.getvalue().encode()


@pytest.mark.slow
@pytest.mark.postgres
def test_the_script_starts_serve_and_a_separate_worker_that_runs_a_scan(tmp_path: Path) -> None:
    with scratch_postgres_database():
        pass  # PostgreSQL answers (or the test is skipped or failed as the suite says)
    database = f"honeytrace_test_local_{secrets.token_hex(4)}"
    port = free_port()
    state = tmp_path / "state"
    env = _environment()
    script = subprocess.Popen(
        [str(SCRIPT), "--database", database, "--port", str(port), "--state", str(state)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert script.stdout is not None
    said: list[str] = []
    # The first mint loads the name and address tables: slow on a busy machine.
    client = httpx.Client(timeout=120)
    try:
        while not said or not said[-1].startswith("ready: "):
            line = script.stdout.readline()
            assert line, f"the script ended before ready: {''.join(said)}"
            said.append(line)
        assert f"database {database} created\n" in said
        printed = {
            line.partition(":")[0]: set(line.partition(":")[2].split())
            for line in said
            if line.startswith(("serve settings:", "worker settings:"))
        }
        for process in ("serve", "worker"):
            assert printed[f"{process} settings"] == set(_service_settings(process)) | SCRIPT_ONLY
        pids = [int(n) for n in re.findall(r"pid (\d+)", said[-1])]

        base = f"http://127.0.0.1:{port}"
        assert client.get(f"{base}/readyz").json()["status"] == "ready"
        check = subprocess.run(healthcheck(), env={**env, "HONEYTRACE_PORT": str(port)})
        assert check.returncode == 0, "the image's health check finds the service unready"

        settings = {
            "HONEYTRACE_ENVIRONMENT": "production",
            "HONEYTRACE_SECRET_KEY": (state / "secret_key").read_text().strip(),
            "HONEYTRACE_DATABASE_URL": make_url(POSTGRES_URL)
            .set(database=database)
            .render_as_string(hide_password=False),
        }
        created = subprocess.run(
            ["honeytrace", "keys", "create", "--role", "security", "--json"],
            cwd=state, env={**env, **settings}, capture_output=True, check=True, text=True,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
        link = client.post(
            f"{base}/v1/links",
            json={"name": "网点丙", "kind": "outlet", "region": "440305", "courier": "sf"},
            headers=headers,
        )
        assert link.status_code == 201, link.text
        minted = client.post(
            f"{base}/v1/links/{link.json()['id']}/canaries", json={"count": 3}, headers=headers
        )
        assert minted.status_code == 201, minted.text
        leaked = [c for c in minted.json() if not c["control"]][:1]

        # serve only queues the scan (no jobs in process on PostgreSQL): the worker runs it,
        # reading the upload from the shared spool and the canaries from its own index.
        started = client.post(
            f"{base}/v1/scans", params={"name": "leak.csv"}, content=_leak(leaked),
            headers=headers,
        )  # fmt: skip
        assert started.status_code == 202, started.text
        scan_url = f"{base}/v1/scans/{started.json()['id']}"

        def finished() -> dict[str, Any] | None:
            scan: dict[str, Any] = client.get(scan_url, headers=headers).json()
            return scan if scan["status"] in {"done", "failed"} else None

        scan = _until(finished, 90, "the worker did not finish the scan")
        assert scan["status"] == "done", scan
        assert [m["canary_id"] for m in scan["matches"]] == [leaked[0]["id"]]
        assert "scan[" in (state / "worker.log").read_text()
        assert list((state / "spool").iterdir()) == []  # the upload went with its scan

        script.send_signal(signal.SIGTERM)
        rest = script.communicate(timeout=60)[0]
        assert script.returncode == 0, rest
        assert "stopped: serve exited" in rest
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/readyz")
    finally:
        client.close()
        if script.poll() is None:
            script.kill()
            script.wait()
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.parametrize(
    "arguments",
    [["--database", "x; DROP DATABASE postgres"], ["--port", "80 --reload"], ["--bogus"]],
)
def test_the_script_refuses_bad_arguments_before_touching_anything(
    arguments: list[str], tmp_path: Path
) -> None:
    refused = subprocess.run(
        [str(SCRIPT), *arguments, "--state", str(tmp_path / "state")],
        capture_output=True, text=True, env=_environment(), check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.startswith("run-local: ")
    assert not (tmp_path / "state").exists()
