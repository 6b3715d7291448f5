"""Fixtures of the operator tests: the default connection on a forging proxy in front of the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.emulator import airflow_connection_json
from tests.conftest import CONN_ID
from tests.forging_proxy import ForgingProxy
from tests.helpers import ORG


@pytest.fixture
def proxy(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ForgingProxy]:
    """The connection on a forging proxy, result links through it too, so a test can replace any answer."""
    with ForgingProxy(zoho_emulator.base_url) as forging:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{CONN_ID.upper()}",
            airflow_connection_json(forging.url, timeout=5, analytics_org_id=ORG),
        )
        zoho_emulator.set_download_base(forging.url)
        yield forging
