"""The opt-in cross-process token store, over HTTP against the emulator."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from airflow_provider_zoho.hooks import ZohoHook
from airflow_provider_zoho.hooks.token_cache import AccessToken, TokenCache
from airflow_provider_zoho.hooks.token_file_store import FileTokenStore
from airflow_provider_zoho.jobs import CRM_BULK_WRITE
from airflow_provider_zoho.testing import Fault, ZohoEmulator


@pytest.fixture
def token_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tokens"
    monkeypatch.setenv("AIRFLOW__ZOHO__TOKEN_CACHE_DIR", str(folder))
    return folder


class SteppingClock:
    """A poke schedule: each reschedule-mode poke happens one interval after the last."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_reschedule_pokes_for_an_hour_make_one_token_request(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", ["IN PROGRESS"])
    clock = SteppingClock()
    for _minute in range(60):
        # Every reschedule poke is a new process: a new, empty in-process cache, the same folder.
        hook = ZohoHook(token_cache=TokenCache(clock=clock))
        hook.get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
        clock.now += 60
    assert zoho_conn.status_requests("12") == 60
    assert zoho_conn.token_requests() == 1


def test_without_the_store_each_new_process_requests_a_token(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", ["IN PROGRESS"])
    for _ in range(3):
        ZohoHook(token_cache=TokenCache()).get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    assert zoho_conn.token_requests() == 3


def test_token_file_holds_only_token_and_expiry_with_private_modes(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    ZohoHook(token_cache=TokenCache()).get_access_token()
    [token_file] = token_dir.glob("*.json")
    assert set(json.loads(token_file.read_text())) == {"access_token", "expires_at"}
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(token_dir.stat().st_mode) == 0o700
    content = token_file.read_text() + token_file.name
    assert ZohoEmulator.DEFAULT_CLIENT.client_secret not in content
    assert ZohoEmulator.DEFAULT_CLIENT.refresh_token not in content
    assert list(token_dir.glob(".*.tmp")) == []  # written atomically, nothing left behind


def test_rejected_token_is_dropped_from_the_store_too(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", [Fault("invalid_token"), "IN PROGRESS"])
    ZohoHook(token_cache=TokenCache()).get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    ZohoHook(token_cache=TokenCache()).get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    assert zoho_conn.token_requests() == 2
    [token_file] = token_dir.glob("*.json")
    assert json.loads(token_file.read_text())["access_token"] == zoho_conn.issued_tokens[-1]


def test_corrupt_file_is_replaced(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    hook = ZohoHook(token_cache=TokenCache())
    token_dir.mkdir(mode=0o700)
    (token_dir / f"{hook.config.token_cache_key}.json").write_text("{half a")
    assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]


def _refresh_in_child(folder: str, counter: str) -> None:
    def refresh() -> AccessToken:
        with open(counter, "a") as handle:  # count refreshes across processes
            handle.write("x")
        time.sleep(0.05)
        return AccessToken(value=f"token-{os.getpid()}", expires_at=time.time() + 3600)

    TokenCache().get("key", refresh, store=FileTokenStore(folder))


def test_processes_refreshing_together_make_one_refresh(tmp_path: Path) -> None:
    counter = tmp_path / "refreshes"
    counter.touch()
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_refresh_in_child, args=(str(tmp_path / "t"), str(counter))) for _ in range(6)]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=30)
    assert [child.exitcode for child in children] == [0] * 6
    assert counter.read_text() == "x"
