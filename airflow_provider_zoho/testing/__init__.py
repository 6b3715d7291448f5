"""A real-HTTP emulator of Zoho's OAuth and bulk-job status APIs, for testing the provider.

Import cost is kept low on purpose (aiohttp only, no airflow, nothing else from this package), because
the pytest plugin imports it in every test session.  The emulator is an independent model of Zoho: see
:mod:`airflow_provider_zoho.testing.emulator`.
"""

from __future__ import annotations

from airflow_provider_zoho.testing.dialects import JOB_KINDS
from airflow_provider_zoho.testing.emulator import (
    ClientCredentials,
    ReceivedRequest,
    ZohoEmulator,
    airflow_connection_json,
)
from airflow_provider_zoho.testing.faults import HOSTILE_FAULT_KINDS, Fault

__all__ = [
    "HOSTILE_FAULT_KINDS",
    "JOB_KINDS",
    "ClientCredentials",
    "Fault",
    "ReceivedRequest",
    "ZohoEmulator",
    "airflow_connection_json",
]
