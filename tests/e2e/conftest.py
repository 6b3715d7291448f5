"""A real Airflow 3 deployment for end-to-end tests: scheduler, triggerer, dag-processor and api-server.

Each runs as its own process, in its own process group, against SQLite in the test's temp AIRFLOW_HOME
with the LocalExecutor, and talks to the Zoho emulator over loopback HTTP. Every process is stopped by
process group when the test ends, whatever the outcome; on failure their logs are printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import ORG_ZGID

REPO = Path(__file__).resolve().parents[2]
E2E_DAGS = Path(__file__).resolve().parent / "dags"
AIRFLOW = str(Path(sys.executable).parent / "airflow")
ORG_ID = "60012345678"
CRM_ORG_ID = ORG_ZGID
COMPONENTS = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--port", "{port}", "--workers", "1"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
STARTUP_TIMEOUT = 120.0
POLL_INTERVAL = 2  # seconds between a deferred sensor's polls, in every DAG (ZOHO_EXAMPLE_POLL_INTERVAL)
LOG_TAIL_LINES = 150

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def airflow_env(home: Path, api_port: int, emulator: ZohoEmulator) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        **{key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")},
        # This checkout's package, whichever checkout the virtualenv has installed in editable mode.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # crm_org_id: the emulator's org, so CRM tasks can link to their module in Zoho's UI (issue 20).
        "AIRFLOW_CONN_ZOHO_DEFAULT": emulator.airflow_connection(analytics_org_id=ORG_ID, crm_org_id=CRM_ORG_ID),
        "ZOHO_EXAMPLE_POLL_INTERVAL": str(POLL_INTERVAL),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@dataclass
class AirflowDeployment:
    home: Path
    env: dict[str, str]
    api_url: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- processes ------------------------------------------------------------------------------------
    def run(self, name: str, *args: str, timeout: float = 120) -> None:
        """Run one ``airflow`` command to completion; its output goes to ``logs/<name>.log``."""
        with (self.logs / f"{name}.log").open("wb") as log:
            subprocess.run(
                [AIRFLOW, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=True
            )

    def start(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [AIRFLOW, *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopping it stops its children too
            )

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every process group, then SIGKILL whatever is left after ``grace`` seconds."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            _signal_group(process, signal.SIGKILL)  # also reaps children that outlived their leader
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise AssertionError(f"airflow {name} exited early with code {process.returncode}")

    def dump_logs(self) -> None:
        files = sorted(self.logs.glob("*.log")) + sorted((self.home / "logs").rglob("*.log"))
        for path in files:
            lines = path.read_text(errors="replace").splitlines()
            print(f"\n===== {path} (last {min(len(lines), LOG_TAIL_LINES)} of {len(lines)} lines) =====")
            print("\n".join(lines[-LOG_TAIL_LINES:]))

    # -- REST API and metadata database ---------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = requests.request(method, f"{self.api_url}/api/v2{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response.json()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the metadata database (SQLite) directly, briefly, so writers are not held up."""
        with sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def wait_until(self, what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                result = check()
            except (requests.RequestException, sqlite3.Error, AssertionError) as error:
                last_error, result = error, None
            if result:
                return result
            time.sleep(interval)
        raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")

    def healthy(self) -> bool:
        health = self.api("GET", "/monitor/health")
        return all(health.get(key, {}).get("status") == "healthy" for key in HEALTH_KEYS)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@pytest.fixture
def airflow_deployment(
    zoho_emulator: ZohoEmulator, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[AirflowDeployment]:
    """Airflow 3's four components, healthy, with the example DAGs parsed and unpaused."""
    home = tmp_path / "airflow"
    logs = tmp_path / "process-logs"
    home.mkdir()
    logs.mkdir()
    # The example DAGs as users get them, plus the DAGs that only the end-to-end tests need.
    (home / "dags").mkdir()
    for dag_file in [*(REPO / "example_dags").glob("*.py"), *E2E_DAGS.glob("*.py")]:
        shutil.copy(dag_file, home / "dags" / dag_file.name)
    api_port = free_port()
    deployment = AirflowDeployment(
        home=home, env=airflow_env(home, api_port, zoho_emulator), api_url=f"http://127.0.0.1:{api_port}", logs=logs
    )
    try:
        deployment.run("db-migrate", "db", "migrate")
        for name, args in COMPONENTS.items():
            deployment.start(name, *(arg.format(port=api_port) for arg in args))
        deployment.wait_until("every component to report healthy", deployment.healthy, STARTUP_TIMEOUT)
        yield deployment
    finally:
        deployment.stop()
        reports = request.node.stash.get(_REPORTS, {})
        if any(report.failed for report in reports.values()) or not reports.get("call"):
            deployment.dump_logs()
