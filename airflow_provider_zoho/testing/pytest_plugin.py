"""pytest plugin (entry point ``zoho_emulator``): the ``zoho_emulator`` fixture.

Kept light: importing it pulls in aiohttp and the emulator, never airflow, so registering the plugin
does not slow down test collection for suites that do not use it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_zoho.testing.emulator import ZohoEmulator

__all__ = ["zoho_emulator"]


@pytest.fixture
def zoho_emulator() -> Iterator[ZohoEmulator]:
    """Yield a started emulator with ``ZohoEmulator.DEFAULT_CLIENT`` registered; stop it after the test.

    Function scope so that every test starts from fresh tokens, jobs, counters and throttle windows.
    """
    emulator = ZohoEmulator().start()
    try:
        emulator.add_client(*ZohoEmulator.DEFAULT_CLIENT)
        yield emulator
    finally:
        emulator.stop()
