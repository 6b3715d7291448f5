"""The shared token store next to a hostile local user: planted symlinks, unsafe folders, forged token files.

Whatever is planted, the hook gets its token from Zoho (the emulator), nothing outside the folder is read
into a token, created or overwritten, and a folder the store refuses is named once in a warning.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_zoho.hooks import ZohoHook
from airflow_provider_zoho.hooks.token_cache import AccessToken, TokenCache
from airflow_provider_zoho.hooks.token_file_store import FileTokenStore
from airflow_provider_zoho.jobs import CRM_BULK_WRITE
from airflow_provider_zoho.testing import ZohoEmulator

ANOTHER_USER = 12345
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")


@pytest.fixture
def token_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "tokens"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("AIRFLOW__ZOHO__TOKEN_CACHE_DIR", str(folder))
    return folder


def new_process_hook() -> ZohoHook:
    """A hook as a new reschedule-mode process builds it: an empty in-process cache."""
    return ZohoHook(token_cache=TokenCache())


def stored_token(folder: Path, key: str) -> str:
    return str(json.loads((folder / f"{key}.json").read_text())["access_token"])


# -- symlinks planted in the folder ---------------------------------------------------------------------


def test_symlinked_token_file_is_not_read(zoho_conn: ZohoEmulator, token_dir: Path, tmp_path: Path) -> None:
    planted = tmp_path / "planted.json"
    planted.write_text(json.dumps({"access_token": "1000.planted", "expires_at": time.time() + 3600}))
    hook = new_process_hook()
    key = hook.config.token_cache_key
    (token_dir / f"{key}.json").symlink_to(planted)

    assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]
    assert json.loads(planted.read_text())["access_token"] == "1000.planted"  # not overwritten either
    assert not (token_dir / f"{key}.json").is_symlink()  # the link itself was replaced
    assert stored_token(token_dir, key) == zoho_conn.issued_tokens[-1]


def test_token_is_not_written_through_a_planted_temporary_file(
    zoho_conn: ZohoEmulator, token_dir: Path, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    precious.write_text("precious")
    hook = new_process_hook()
    key = hook.config.token_cache_key
    # Where a writer naming its temporary file after its process id would write.
    (token_dir / f".{key}.{os.getpid()}.tmp").symlink_to(precious)

    token = hook.get_access_token()
    assert precious.read_text() == "precious"
    assert stored_token(token_dir, key) == token.value == zoho_conn.issued_tokens[-1]


def test_symlinked_lock_file_creates_nothing_outside(zoho_conn: ZohoEmulator, token_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "created-by-the-victim"
    hook = new_process_hook()
    key = hook.config.token_cache_key
    (token_dir / f"{key}.lock").symlink_to(target)

    assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]
    assert not target.exists()
    assert stat.S_ISREG((token_dir / f"{key}.lock").lstat().st_mode)
    assert stored_token(token_dir, key) == zoho_conn.issued_tokens[-1]


# -- folders the store refuses --------------------------------------------------------------------------


def world_writable(folder: Path) -> str:
    folder.chmod(0o777)
    return "chmod 700"


def group_writable(folder: Path) -> str:
    folder.chmod(0o770)
    return "chmod 700"


def owned_by_another_user(folder: Path) -> str:
    os.chown(folder, ANOTHER_USER, ANOTHER_USER)
    return f"owned by uid {ANOTHER_USER}"


def a_symbolic_link(folder: Path) -> str:
    real = folder.with_name("real-tokens")
    folder.rename(real)
    folder.symlink_to(real)
    return "symbolic link"


@pytest.mark.parametrize(
    "make_unsafe",
    [world_writable, group_writable, pytest.param(owned_by_another_user, marks=as_root), a_symbolic_link],
)
def test_unsafe_folder_is_refused_once_and_tokens_stay_in_process(
    zoho_conn: ZohoEmulator, token_dir: Path, make_unsafe: Callable[[Path], str], caplog: pytest.LogCaptureFixture
) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", ["IN PROGRESS"])
    fix = make_unsafe(token_dir)
    with caplog.at_level(logging.WARNING, logger="airflow_provider_zoho"):
        for _poke in range(2):
            assert new_process_hook().get_job_status(CRM_BULK_WRITE, {"job_id": "12"}).state
    assert zoho_conn.token_requests() == 2  # one per process, as without the store
    assert list(token_dir.resolve().iterdir()) == []  # nothing written, not even a lock file
    [warning] = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert str(token_dir) in warning.getMessage()
    assert fix in warning.getMessage()


def test_store_is_used_again_once_the_folder_is_fixed(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    token_dir.chmod(0o777)
    new_process_hook().get_access_token()
    token_dir.chmod(0o700)
    token = new_process_hook().get_access_token()
    assert new_process_hook().get_access_token().value == token.value
    assert zoho_conn.token_requests() == 2


# -- token files that are not what the store writes -----------------------------------------------------

NOW = time.time()
FORGED_FILES = {
    "CR/LF in the token (a header injection)": json.dumps(
        {"access_token": "1000.a\r\nX-Injected: yes", "expires_at": NOW + 3600}
    ),
    "space in the token": json.dumps({"access_token": "1000.a b", "expires_at": NOW + 3600}),
    "control character in the token": json.dumps({"access_token": "1000.a\x00", "expires_at": NOW + 3600}),
    "DEL in the token": json.dumps({"access_token": "1000.a\x7f", "expires_at": NOW + 3600}),
    "non-ASCII token": json.dumps({"access_token": "1000.jeton-\u00e9", "expires_at": NOW + 3600}),
    "empty token": json.dumps({"access_token": "", "expires_at": NOW + 3600}),
    "overlong token": json.dumps({"access_token": "1" * 2000, "expires_at": NOW + 3600}),
    "token that is a number": json.dumps({"access_token": 1000, "expires_at": NOW + 3600}),
    "expiry a year away": json.dumps({"access_token": "1000.forged", "expires_at": NOW + 365 * 86400}),
    "expiry NaN": '{"access_token": "1000.forged", "expires_at": NaN}',
    "expiry infinite": '{"access_token": "1000.forged", "expires_at": Infinity}',
    "expiry overflowing to infinity": '{"access_token": "1000.forged", "expires_at": 1e400}',
    "expiry that is a boolean": '{"access_token": "1000.forged", "expires_at": true}',
    "valid token padded past the size bound": json.dumps({"access_token": "1000.forged", "expires_at": NOW + 3600})
    + " " * 8192,
    "JSON nested too deep to parse": "[" * 3000,
    "not an object": json.dumps(["1000.forged", NOW + 3600]),
}


@pytest.mark.parametrize("content", FORGED_FILES.values(), ids=FORGED_FILES.keys())
def test_forged_token_file_is_treated_as_absent(zoho_conn: ZohoEmulator, token_dir: Path, content: str) -> None:
    hook = new_process_hook()
    key = hook.config.token_cache_key
    (token_dir / f"{key}.json").write_text(content)

    assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]
    assert stored_token(token_dir, key) == zoho_conn.issued_tokens[-1]  # and replaced by the good one


@as_root
def test_token_file_of_another_user_is_not_read(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    hook = new_process_hook()
    token_file = token_dir / f"{hook.config.token_cache_key}.json"
    token_file.write_text(json.dumps({"access_token": "1000.theirs", "expires_at": time.time() + 3600}))
    os.chown(token_file, ANOTHER_USER, ANOTHER_USER)

    assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]


def test_fifo_in_place_of_the_token_file_does_not_hang(zoho_conn: ZohoEmulator, token_dir: Path) -> None:
    hook = new_process_hook()
    os.mkfifo(token_dir / f"{hook.config.token_cache_key}.json", 0o600)
    assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]


def test_a_store_that_cannot_save_does_not_fail_the_hook(
    zoho_conn: ZohoEmulator, token_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook = new_process_hook()
    (token_dir / f"{hook.config.token_cache_key}.json").mkdir()  # os.replace cannot put a file there
    with caplog.at_level(logging.WARNING, logger="airflow_provider_zoho"):
        assert hook.get_access_token().value == zoho_conn.issued_tokens[-1]
    assert "token_cache_dir" in caplog.text


# -- the store on its own, with an injected clock -------------------------------------------------------


def test_expiry_may_be_at_most_one_day_ahead(tmp_path: Path) -> None:
    now = 1_700_000_000.0
    store = FileTokenStore(tmp_path / "tokens", clock=lambda: now)
    store.save("key", AccessToken(value="1000.day", expires_at=now + 86400))
    assert store.load("key") == AccessToken(value="1000.day", expires_at=now + 86400)
    store.save("key", AccessToken(value="1000.longer", expires_at=now + 86400 + 1))
    assert store.load("key") is None


def test_invalidate_removes_the_token_from_the_store(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "tokens")
    cache = TokenCache()
    token = cache.get("key", lambda: AccessToken(value="1000.bad", expires_at=time.time() + 3600), store=store)
    cache.invalidate("key", "1000.other", store=store)  # another token: kept
    assert store.load("key") == token
    cache.invalidate("key", token.value, store=store)
    assert store.load("key") is None
    assert cache.cached("key") is None
    assert not (tmp_path / "tokens" / "key.json").exists()


@pytest.mark.parametrize("key", ["../escape", "a/b", "", ".hidden", "key\n"])
def test_key_that_is_not_a_plain_file_name_is_a_programming_error(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="token store key"):
        FileTokenStore(tmp_path).load(key)
