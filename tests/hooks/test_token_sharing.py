"""Tokens are shared by default: every process of one machine makes one token request between them.

Each "process" here is a real new Python process with the default settings (no ``[zoho]`` option set), as
a worker's task process, a triggerer and ``airflow dags test`` are. The Variable layer, which reaches other
machines through the API server, is proven by the cluster test (``make test-cluster``); here it is checked
to be on by default on Airflow 3 and to read a Variable's value as strictly as a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_zoho.hooks.token_sharing import (
    VariableTokenStore,
    shared_token_store,
    shares_through_variables,
    token_folder,
)
from airflow_provider_zoho.testing import ZohoEmulator
from tests.conftest import REPO, connection_uri_json

# A process that needs a token: the sync hook (a worker's task) or the async hook (a triggerer).
FETCH = {
    "sync": "from airflow_provider_zoho.hooks import ZohoHook; ZohoHook().get_access_token()",
    "async": (
        "import asyncio; from airflow_provider_zoho.hooks import ZohoAsyncHook; "
        "from airflow_provider_zoho.hooks.zoho_async import close_shared_session\n"
        "async def main():\n    try:\n        await ZohoAsyncHook().get_access_token()\n"
        "    finally:\n        await close_shared_session()\n"
        "asyncio.run(main())"
    ),
}


def machine_env(emulator: ZohoEmulator, home: Path, **settings: str) -> dict[str, str]:
    """A process environment with the default settings, on a "machine" whose disk is ``home``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_ZOHO_DEFAULT": connection_uri_json(emulator),
            "PYTHONPATH": str(REPO),
            **settings,
        }
    )
    return env


def run_processes(env: dict[str, str], kinds: list[str]) -> None:
    """Start every process at once, as a scheduler starting a mapped task's instances does; wait for all."""
    started = [subprocess.Popen([sys.executable, "-c", FETCH[kind]], env=env, stderr=subprocess.PIPE) for kind in kinds]
    for process in started:
        _, errors = process.communicate(timeout=90)
        assert process.returncode == 0, errors.decode(errors="replace")[-2000:]


def test_processes_of_one_machine_share_one_token_by_default(zoho_emulator: ZohoEmulator, tmp_path: Path) -> None:
    env = machine_env(zoho_emulator, tmp_path / "machine-a")
    run_processes(env, ["sync", "async", "sync", "async", "sync", "sync"])
    assert zoho_emulator.token_requests() == 1
    folder = tmp_path / "machine-a" / "zoho_tokens"
    assert folder.is_dir()
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    [stored] = folder.glob("*.json")
    assert set(json.loads(stored.read_text())) == {"access_token", "expires_at"}  # no refresh token, no secret


def test_a_machine_that_shares_no_disk_asks_once_for_itself(zoho_emulator: ZohoEmulator, tmp_path: Path) -> None:
    """Outside a task no API server is reachable, so the Variable layer is empty: one request per machine."""
    run_processes(machine_env(zoho_emulator, tmp_path / "a"), ["sync", "async"])
    run_processes(machine_env(zoho_emulator, tmp_path / "b"), ["sync", "async"])
    assert zoho_emulator.token_requests() == 2


def test_off_keeps_tokens_per_process(zoho_emulator: ZohoEmulator, tmp_path: Path) -> None:
    env = machine_env(
        zoho_emulator,
        tmp_path / "a",
        AIRFLOW__ZOHO__TOKEN_CACHE_DIR="off",
        AIRFLOW__ZOHO__SHARE_TOKENS_THROUGH_VARIABLES="False",
    )
    run_processes(env, ["sync", "async", "sync"])
    assert zoho_emulator.token_requests() == 3
    assert not (tmp_path / "a" / "zoho_tokens").exists()


def test_the_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW__ZOHO__TOKEN_CACHE_DIR")
    monkeypatch.delenv("AIRFLOW__ZOHO__SHARE_TOKENS_THROUGH_VARIABLES")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert token_folder() == tmp_path / "zoho_tokens"
    assert shares_through_variables() is AIRFLOW_V_3_0_PLUS
    store = shared_token_store()
    assert store is not None
    assert store.local is not None
    assert (store.shared is not None) is AIRFLOW_V_3_0_PLUS
    monkeypatch.setenv("AIRFLOW__ZOHO__TOKEN_CACHE_DIR", "off")
    monkeypatch.setenv("AIRFLOW__ZOHO__SHARE_TOKENS_THROUGH_VARIABLES", "False")
    assert shared_token_store() is None


@pytest.mark.parametrize(
    ("value", "usable"),
    [
        (json.dumps({"access_token": "1000.abc.def", "expires_at": time.time() + 3000}), True),
        (json.dumps({"access_token": "1000.abc\r\nX-Injected: 1", "expires_at": time.time() + 3000}), False),
        (json.dumps({"access_token": "1000.abc.def", "expires_at": time.time() + 10**9}), False),
        ("not json", False),
        ("x" * 10_000, False),
    ],
    ids=["valid", "header-injection", "forever", "not-json", "huge"],
)
@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the Variable layer is Airflow 3's (off by default on 2.11)")
def test_a_variables_value_is_checked_as_a_file_is(monkeypatch: pytest.MonkeyPatch, value: str, usable: bool) -> None:
    """The Variable is read through Airflow's own secrets chain (here, an ``AIRFLOW_VAR_`` variable)."""
    monkeypatch.setenv(f"AIRFLOW_VAR_{VariableTokenStore.key('k1').upper()}", value)
    token = VariableTokenStore().load("k1")
    assert (token is not None) is usable


def test_the_test_button_reuses_a_shared_token_but_never_for_a_wrong_secret(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_zoho.hooks import ZohoHook
    from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE
    from airflow_provider_zoho.testing.emulator import airflow_connection_json

    monkeypatch.setenv("AIRFLOW__ZOHO__TOKEN_CACHE_DIR", str(tmp_path / "tokens"))
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_DEFAULT", connection_uri_json(zoho_emulator))
    assert ZohoHook().test_connection()[0]
    TOKEN_CACHE.clear()  # the API server's next test, as a new process
    ok, message = ZohoHook().test_connection()
    assert ok
    assert "shared by this deployment" in message
    assert zoho_emulator.token_requests() == 1
    TOKEN_CACHE.clear()
    wrong = ZohoEmulator.DEFAULT_CLIENT._replace(client_secret="not-the-secret")
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_DEFAULT", airflow_connection_json(zoho_emulator.base_url, wrong, timeout=5))
    ok, message = ZohoHook().test_connection()
    assert not ok
    assert "invalid_client" in message
    assert zoho_emulator.token_requests() == 2
