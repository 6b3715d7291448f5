"""Fixtures shared by the suite: an isolated AIRFLOW_HOME, a ``zoho`` connection to the emulator, clean caches."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

# Airflow reads its home when first imported: point it inside the repo before anything imports Airflow.
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from airflow_provider_zoho.hooks import token_cache, zoho_async  # noqa: E402
from airflow_provider_zoho.hooks.throttle import THROTTLE  # noqa: E402
from airflow_provider_zoho.testing import ZohoEmulator  # noqa: E402

CONN_ID = "zoho_default"

# In CI the property tests replay a fixed set of examples, so a run cannot pass or fail by the luck of the
# draw; on developers' machines every run explores new fault sequences.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def connection_uri_json(emulator: ZohoEmulator, **extra: object) -> str:
    """The default client's connection to ``emulator``, with a short request timeout for tests."""
    return emulator.airflow_connection(**{"timeout": 5, **extra})


@pytest.fixture(autouse=True)
def _tokens_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test stands for a new process (see ``_fresh_caches``), so tokens are not shared beyond it: the
    tests of sharing (tests/hooks/test_token_sharing.py) turn the default layers back on, in their own
    AIRFLOW_HOME."""
    monkeypatch.setenv("AIRFLOW__ZOHO__TOKEN_CACHE_DIR", "off")
    monkeypatch.setenv("AIRFLOW__ZOHO__SHARE_TOKENS_THROUGH_VARIABLES", "False")


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test starts with no cached token and no throttle pause, as a new process would."""
    token_cache.TOKEN_CACHE.clear()
    THROTTLE.clear()
    yield
    token_cache.TOKEN_CACHE.clear()
    THROTTLE.clear()


@pytest.fixture(scope="module")
def emulator() -> Iterator[ZohoEmulator]:
    """One emulator for a whole test module, with the default client.

    Its token-window limit is lifted: such modules request many tokens on purpose (a fresh process, a
    rejected token...), and Zoho's 10-per-10-minutes limit is tested on its own.
    """
    with ZohoEmulator(token_limit_per_window=1_000_000) as shared:
        shared.add_client(*ZohoEmulator.DEFAULT_CLIENT)
        yield shared


@pytest.fixture
def zoho_conn(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> ZohoEmulator:
    """The default ``zoho`` connection, pointing at a running emulator, as an AIRFLOW_CONN_ variable."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri_json(zoho_emulator, analytics_org_id="55522777")
    )
    return zoho_emulator


@pytest.fixture
async def async_session_cleanup() -> AsyncIterator[None]:
    """Close the loop's pooled aiohttp session after an async test, as a triggerer never needs to."""
    yield
    await zoho_async.close_shared_session()
