"""A real-HTTP emulator of Zoho's OAuth and bulk-job status APIs, for testing the provider.

Import cost is kept low on purpose (aiohttp only, no airflow, nothing else from this package), because
the pytest plugin imports it in every test session.  The emulator is an independent model of Zoho: see
``airflow_provider_zoho.testing.emulator``; its names (``EMULATED_KINDS``, ``EmulatedProduct``...)
say so, so they are never mistaken for the provider's.  ``airflow_provider_zoho.testing.kinds`` holds
the per-kind facts this repository's tests and benchmark share.
"""

from __future__ import annotations

from airflow_provider_zoho.testing.dialects import EMULATED_KINDS
from airflow_provider_zoho.testing.emulator import (
    ClientCredentials,
    ReceivedRequest,
    ZohoEmulator,
    airflow_connection_json,
)
from airflow_provider_zoho.testing.faults import HOSTILE_FAULT_KINDS, Fault

__all__ = [
    "EMULATED_KINDS",
    "HOSTILE_FAULT_KINDS",
    "ClientCredentials",
    "Fault",
    "ReceivedRequest",
    "ZohoEmulator",
    "airflow_connection_json",
]
