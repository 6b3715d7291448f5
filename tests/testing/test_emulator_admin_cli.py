"""The emulator's counters, concurrency, admin API, start and stop, and command line.

Over real HTTP (urllib for sync tests, aiohttp for concurrency and streams, requests where redirects and raw
bodies matter). The expectations are written from Zoho's docs (``docs/zoho-api.md``) and the doc samples,
independently of the emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.__main__ import EXAMPLE_JOBS
from airflow_provider_zoho.testing.__main__ import main as emulator_cli
from airflow_provider_zoho.testing.kinds import KIND_FACTS
from airflow_provider_zoho.testing.server import ADMIN_PREFIX, Server
from tests.testing.emulator_calls import (
    CLIENT,
    FACTS,
    REPO_ROOT,
    Reply,
    add,
    http,
    new_token,
    poll,
    token_call,
)


# ---------------------------------------------------------------------------------------------------------
# Counters, concurrency, admin API, lifecycle, CLI
# ---------------------------------------------------------------------------------------------------------
def test_counters_and_reset(zoho_emulator: ZohoEmulator) -> None:
    add(zoho_emulator, "crm_bulk_write", "a", ["COMPLETED"])
    add(zoho_emulator, "bigin_bulk_write", "b", ["COMPLETED"])
    token = new_token(zoho_emulator)
    for _ in range(3):
        poll(zoho_emulator, "crm_bulk_write", "a", token)
    poll(zoho_emulator, "bigin_bulk_write", "b", token)
    poll(zoho_emulator, "bigin_bulk_write", "missing", token)
    assert zoho_emulator.status_requests() == 5
    assert (zoho_emulator.status_requests("a"), zoho_emulator.status_requests("b")) == (3, 1)
    assert zoho_emulator.status_requests("missing") == 1, "unanswered GETs count too"
    assert zoho_emulator.max_concurrent_connections >= 1
    zoho_emulator.reset_counters()
    assert (zoho_emulator.token_requests(), zoho_emulator.status_requests()) == (0, 0)
    assert zoho_emulator.status_requests("a") == 0
    assert zoho_emulator.issued_tokens == [token], "reset_counters keeps the token history"
    assert poll(zoho_emulator, "crm_bulk_write", "a", token).status == 200, "and the tokens"


async def test_concurrent_connections_are_counted_and_1000_pollers_are_served() -> None:
    emu = ZohoEmulator(token_limit_per_window=1000).start()
    try:
        emu.add_client(*CLIENT)
        emu.add_job("crm_bulk_write", "slow", [Fault("slow", delay=0.3)])
        for i in range(1000):
            emu.add_job("bigin_bulk_write", f"job-{i}", ["IN PROGRESS", "COMPLETED"])
        token = new_token(emu)
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def get(path: str) -> tuple[int, Any]:
                async with session.get(emu.base_url + path, headers=headers) as response:
                    return response.status, await response.json()

            slow = await asyncio.gather(*(get("/crm/bulk/v8/write/slow") for _ in range(25)))
            assert all(status == 200 and body["status"] == "ADDED" for status, body in slow)
            assert emu.max_concurrent_connections >= 25

            started = time.monotonic()
            for expected in ("IN PROGRESS", "COMPLETED"):
                results = await asyncio.gather(*(get(f"/bigin/bulk/v2/write/job-{i}") for i in range(1000)))
                assert all(status == 200 and body["status"] == expected for status, body in results)
            # A sanity bound far above what any machine needs (about 1 s idle): the benchmark measures speed.
            assert time.monotonic() - started < 60
        assert emu.status_requests() == 25 + 2000
        assert emu.status_requests("job-999") == 2
    finally:
        emu.stop()


def test_admin_api(zoho_emulator: ZohoEmulator) -> None:
    base = zoho_emulator.base_url + "/__emulator__"

    def post(path: str, payload: Any) -> Reply:
        return http(
            "POST", base + path, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )

    assert post("/clients", {"client_id": "c", "client_secret": "s", "refresh_token": "r"}).json() == {"ok": True}
    assert "access_token" in token_call(zoho_emulator, ("c", "s", "r"))
    jobs = [
        {
            "kind": "analytics_import",
            "job_id": "a1",
            "script": ["1002", {"fault": "rate_limited", "retry_after": 1}, "1004"],
            **FACTS["analytics_import"].coordinates,
        },
        {"kind": "crm_bulk_write", "job_id": "c1", "script": ["COMPLETED"], "counts": {"added_count": 7}},
    ]
    assert post("/jobs", jobs).status == 200
    token = new_token(zoho_emulator)
    assert poll(zoho_emulator, "analytics_import", "a1", token).json()["data"]["jobCode"] == "1002"
    assert poll(zoho_emulator, "analytics_import", "a1", token).status == 429
    assert poll(zoho_emulator, "crm_bulk_write", "c1", token).json()["resource"][0]["file"]["added_count"] == 7

    bad = post("/jobs", [{"kind": "crm_bulk_write", "job_id": "ok", "script": ["ADDED"]}, {"kind": "crm_bulk_write"}])
    assert bad.status == 400
    assert bad.json()["ok"] is False
    assert poll(zoho_emulator, "crm_bulk_write", "ok", token).status == 404, "a bad batch applies nothing"

    stats = http("GET", base + "/stats").json()
    assert stats["token_requests"] == 2
    assert stats["status_requests"] == 4
    assert stats["status_requests_by_job"] == {"a1": 2, "c1": 1, "ok": 1}
    assert stats["max_concurrent_connections"] >= 1

    assert post("/accounts", [{"fault": "invalid_client"}]).status == 200
    assert token_call(zoho_emulator) == {"error": "invalid_client"}
    assert post("/revoke_tokens", {}).status == 200
    assert poll(zoho_emulator, "crm_bulk_write", "c1", token).status == 401
    assert post("/reset_counters", {}).status == 200
    assert http("GET", base + "/stats").json()["status_requests"] == 0


def test_start_stop_lifecycle() -> None:
    emu = ZohoEmulator()
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with emu:
        assert emu.start() is emu, "start is idempotent"
        url = emu.base_url
        assert url.startswith("http://127.0.0.1:")
        port = int(url.rsplit(":", 1)[1])
    started = time.monotonic()
    emu.stop()  # idempotent
    assert time.monotonic() - started < 1
    with pytest.raises(RuntimeError):
        _ = emu.base_url
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_stop_does_not_wait_for_in_flight_slow_answers() -> None:
    emu = ZohoEmulator().start()
    emu.add_client(*CLIENT)
    emu.add_job("crm_bulk_write", "j", [Fault("slow", delay=30)])
    token = new_token(emu)
    sock = socket.create_connection(("127.0.0.1", int(emu.base_url.rsplit(":", 1)[1])))
    sock.sendall(
        b"GET /crm/bulk/v8/write/j HTTP/1.1\r\nHost: x\r\nAuthorization: Zoho-oauthtoken "
        + token.encode()
        + b"\r\n\r\n"
    )
    deadline = time.monotonic() + 5
    while emu.status_requests("j") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    emu.stop()
    sock.close()
    assert time.monotonic() - started < 5


def test_the_testing_package_imports_without_airflow() -> None:
    """The pytest plugin loads in every test session of every user; the benchmark reads the kind facts."""
    modules = ["pytest_plugin", "kinds", "hostile", "__main__"]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module('airflow_provider_zoho.testing.' + name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps(
            [
                {
                    "kind": "creator_bulk_insert",
                    "job_id": "77",
                    "script": ["In-progress", {"fault": "rate_limited", "retry_after": 1}, "Completed"],
                    **FACTS["creator_bulk_insert"].coordinates,
                }
            ]
        )
    )
    return path


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError("the emulator CLI printed nothing")
        return proc.stdout.readline().strip()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_until_signalled(jobs_file: Path, stop_signal: signal.Signals) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_zoho.testing",
            "--jobs",
            str(jobs_file),
            "--client-id",
            "cli-id",
            "--client-secret",
            "cli-secret",
            "--refresh-token",
            "cli-refresh",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    ) as proc:
        try:
            line = _read_line(proc, timeout=15)
            assert line.startswith("ZOHO_EMULATOR_URL=http://127.0.0.1:")
            base = line.split("=", 1)[1]
            params = "grant_type=refresh_token&client_id=cli-id&client_secret=cli-secret&refresh_token=cli-refresh"
            token = http("POST", f"{base}/oauth/v2/token?{params}").json()["access_token"]
            url = base + FACTS["creator_bulk_insert"].status_path("77")
            auth = {"Authorization": f"Zoho-oauthtoken {token}"}
            assert http("GET", url, headers=auth).json()["data"]["api_status"] == "In-progress"
            limited = http("GET", url, headers=auth)
            assert (limited.status, limited.headers["Retry-After"]) == (429, "1")
            assert http("GET", url, headers=auth).json()["data"]["api_status"] == "Completed"
            assert http("GET", f"{base}/__emulator__/stats").json()["status_requests_by_job"] == {"77": 3}
            proc.send_signal(stop_signal)
            assert proc.wait(timeout=10) == 0
            assert proc.stderr is not None
            assert "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_example_jobs_file_loads_one_job_per_kind() -> None:
    definitions = json.loads(EXAMPLE_JOBS.read_text())
    assert sorted(d["kind"] for d in definitions) == sorted(KIND_FACTS)
    ZohoEmulator().add_jobs(definitions)  # validates every definition, as --jobs does


def test_cli_without_client_flags_serves_the_default_client_and_prints_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a user does outside pytest: start it with the example jobs, point Airflow at the printed URL."""
    from airflow_provider_zoho.hooks.zoho import ZohoHook
    from airflow_provider_zoho.jobs import JOB_KINDS
    from airflow_provider_zoho.testing import airflow_connection_json

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    command = ["--jobs", str(EXAMPLE_JOBS), "--analytics-org-id", "55522777"]
    with subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_zoho.testing", *command],  # port 0: a free one
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    ) as proc:
        try:
            url = _read_line(proc, timeout=30).removeprefix("ZOHO_EMULATOR_URL=")
            assert proc.stdout is not None  # printed with the URL line, so already in the pipe's buffer:
            name, _, printed = shlex.split(proc.stdout.readline())[1].partition("=")
            assert name == "AIRFLOW_CONN_ZOHO_DEFAULT"
            assert json.loads(printed) == json.loads(airflow_connection_json(url, analytics_org_id="55522777"))
            monkeypatch.setenv(name, airflow_connection_json(url, analytics_org_id="55522777"))
            hook = ZohoHook("zoho_default")
            crm = hook.get_job_status(JOB_KINDS["crm_bulk_write"], {"job_id": "111111000000541001"})
            assert crm.state == "ADDED"
            analytics = {"workspace_id": "1767024000003145002", "job_id": "1767024000003153087"}
            assert hook.get_job_status(JOB_KINDS["analytics_import"], analytics).state == "1001"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_help_documents_the_jobs_file_and_the_admin_api(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        emulator_cli(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    # Every admin route the emulator's app serves is listed (the account declarations included).
    emulator = ZohoEmulator()
    app = Server(emulator._store, emulator).make_app()
    routes = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    admin = sorted(path for path in routes if path.startswith(ADMIN_PREFIX + "/"))
    assert {"/__emulator__/crm_modules", "/__emulator__/analytics_workspaces", "/__emulator__/creator_apps"} <= set(
        admin
    )
    assert [path for path in admin if path not in text] == []
    assert str(EXAMPLE_JOBS) in text
    assert '"kind"' in text
    assert '"script"' in text
    # Port 8080 is Airflow's API server: neither the help nor the docs' emulator page suggests it.
    page = (REPO_ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    for text_ in (text, page):
        assert "--port 8080" not in text_
        assert ":8080" not in text_


def test_cli_names_an_unusable_jobs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "jobs.json"
    bad.write_text('[{"kind": "crm_bulk_write", "job_id": "1"}]')
    assert emulator_cli(["--jobs", str(bad)]) == 2
    assert (
        capsys.readouterr().err
        == f"{bad}: job definition lacks 'script': {{'kind': 'crm_bulk_write', 'job_id': '1'}}\n"
    )
    assert emulator_cli(["--jobs", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read it (No such file or directory)" in capsys.readouterr().err
