"""A job kind defined outside the package: the docs' CRM bulk read example (docs/guides/custom-kinds.md), in every mode.

The packaged emulator serves only the built-in kinds, so this module runs a small HTTP server of its own
that answers token requests and CRM bulk read status GETs (Zoho's documented v8 shape) and records what
it was sent. The sensor and the trigger still talk real HTTP to it, through the provider's own hooks.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

import tests.readme_kind as readme
from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.jobs import get_job_kind
from airflow_provider_zoho.testing import airflow_connection_json
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.helpers import MISSING_ARGUMENT_ERRORS, MODES, rebuild, run_sensor

READ_PATH = "/crm/bulk/v8/read/"
REFERENCE = "tests.readme_kind:ZohoCRMBulkReadJobSensor.job_kind"


@dataclass
class BulkReadServer:
    """Zoho's accounts server and CRM bulk read status API, as far as these tests need them."""

    scripts: dict[str, list[str]] = field(default_factory=dict)  # job id -> states, the last one repeats
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Authorization
    base_url: str = ""

    def answer(self, method: str, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, authorization))
        if method == "POST" and path.startswith("/oauth/v2/token"):
            return 200, {"access_token": "read-token", "api_domain": self.base_url, "expires_in": 3600}
        script = self.scripts.get(path.removeprefix(READ_PATH)) if path.startswith(READ_PATH) else None
        if not script or authorization != "Zoho-oauthtoken read-token":
            return 404, {"code": "INVALID_URL_PATTERN", "details": {}, "message": "no such job", "status": "error"}
        state = script.pop(0) if len(script) > 1 else script[0]
        job: dict[str, Any] = {"id": path.removeprefix(READ_PATH), "operation": "read", "state": state}
        if state == "COMPLETED":
            job["result"] = {"page": 1, "count": 120, "download_url": path + "/result", "more_records": False}
        return 200, {"data": [job], "info": {"count": 1, "more_records": False}}

    def status_paths(self) -> list[str]:
        return [path for method, path, _ in self.requests if method == "GET"]


@pytest.fixture
def bulk_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[BulkReadServer]:
    server = BulkReadServer()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = server.answer(self.command, self.path, self.headers.get("Authorization"))
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads ``server.requests`` instead."""

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as http:
        server.base_url = f"http://127.0.0.1:{http.server_address[1]}"
        thread = threading.Thread(target=http.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("AIRFLOW_CONN_ZOHO_DEFAULT", airflow_connection_json(server.base_url, timeout=5))
        yield server
        http.shutdown()
        thread.join()


def read_sensor(**kwargs: Any) -> Any:
    options: dict[str, Any] = {"poke_interval": 0.05, "poll_interval": 0.05, "timeout": 20, **kwargs}
    return readme.ZohoCRMBulkReadJobSensor(task_id="wait_read", job_id="4242", **options)


def test_the_readme_sensor_is_its_kind_plus_a_docstring() -> None:
    sensor_class = readme.ZohoCRMBulkReadJobSensor
    assert sensor_class.job_kind is readme.CRM_BULK_READ
    assert sensor_class.template_fields == ("job_id",)
    assert sensor_class.job_kind_reference == REFERENCE
    assert get_job_kind(REFERENCE) is readme.CRM_BULK_READ
    assert readme.CRM_BULK_READ.url_path({"job_id": "4242"}) == "/crm/bulk/v8/read/4242"
    assert readme.CRM_BULK_READ.request_headers({"job_id": "4242"}) == {}
    with pytest.raises(MISSING_ARGUMENT_ERRORS, match="missing keyword argument 'job_id'"):
        sensor_class(task_id="wait_read")


@MODES
def test_the_readme_kind_succeeds_in_every_mode(bulk_read: BulkReadServer, deferrable: bool) -> None:
    bulk_read.scripts["4242"] = ["ADDED", "QUEUED", "IN PROGRESS", "COMPLETED"]
    summary = run_sensor(read_sensor(deferrable=deferrable))
    assert summary["kind"] == "crm_bulk_read"
    assert summary["state"] == "COMPLETED"
    assert summary["counts"] == {"records": 120}
    assert summary["response"]["data"][0]["result"]["download_url"] == "/crm/bulk/v8/read/4242/result"
    assert bulk_read.status_paths() == ["/crm/bulk/v8/read/4242"] * 4
    assert {authorization for method, _, authorization in bulk_read.requests if method == "GET"} == {
        "Zoho-oauthtoken read-token"
    }
    assert [method for method, _, _ in bulk_read.requests].count("POST") == 1  # one token, as for any kind


@MODES
def test_the_readme_kind_fails_on_failure(bulk_read: BulkReadServer, deferrable: bool) -> None:
    bulk_read.scripts["4242"] = ["IN PROGRESS", "FAILURE"]
    with pytest.raises(AirflowFailException, match="Zoho CRM bulk read job 4242 is FAILURE"):
        run_sensor(read_sensor(deferrable=deferrable))


def test_its_trigger_round_trips_through_the_database_form(bulk_read: BulkReadServer) -> None:
    bulk_read.scripts["4242"] = ["IN PROGRESS"]
    with pytest.raises(TaskDeferred) as deferred:
        read_sensor(deferrable=True).execute(context={})
    trigger = deferred.value.trigger
    classpath, kwargs = trigger.serialize()
    assert kwargs["kind"] == REFERENCE
    rebuilt = rebuild(trigger)
    assert isinstance(rebuilt, ZohoJobTrigger)
    assert rebuilt.kind is readme.CRM_BULK_READ
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.description == "Zoho CRM bulk read job 4242"


def test_a_kind_in_a_dag_file_fails_when_a_deferrable_sensor_is_built(tmp_path: Path) -> None:
    """Airflow loads a DAG file under a made-up module name that no triggerer can import."""
    dag_file = tmp_path / "my_dag.py"
    dag_file.write_text(readme.docs_example(readme.PAGE), encoding="utf-8")
    module_name = "unusual_prefix_0123abcd_my_dag"
    spec = importlib.util.spec_from_file_location(module_name, dag_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as Airflow's DAG loader does
    try:
        spec.loader.exec_module(module)
        sensor_class = module.ZohoCRMBulkReadJobSensor
        sensor_class(task_id="poke", job_id="1")  # poke and reschedule mode never need the import
        with pytest.raises(ValueError, match=f"module {module_name!r} cannot be imported by the triggerer"):
            sensor_class(task_id="defer", job_id="1", deferrable=True)
    finally:
        del sys.modules[module_name]
