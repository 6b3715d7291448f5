"""What a user reads when something goes wrong: which job of which product, on which connection, Zoho's own
code and message, what the error table says it means, and all of it once."""

from __future__ import annotations

import json
import socket
import ssl
import traceback

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks import ZohoHook
from airflow_provider_zoho.hooks.transport import network_cause
from airflow_provider_zoho.jobs import JOB_KINDS
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.kinds import KIND_FACTS

# One refusal per product, with the meaning its row in the error table gives.
REFUSALS = {
    "crm_bulk_write": ("RESOURCE_NOT_FOUND", "Zoho CRM bulk write job", "no job with this id"),
    "bigin_bulk_write": ("NO_PERMISSION", "Zoho Bigin bulk write job", "the user may not read bulk jobs"),
    "creator_bulk_insert": ("1040", "Zoho Creator bulk insert job", "account owner not found"),
    "analytics_import": ("7103", "Zoho Analytics import job", "workspace not found"),
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
def test_a_refusal_names_the_product_job_connection_code_and_meaning(zoho_conn: ZohoEmulator, kind: str) -> None:
    code, label, meaning = REFUSALS[kind]
    coordinates = dict(KIND_FACTS[kind].coordinates)
    zoho_conn.add_job(kind, "4711", [Fault("error", code=code)], **coordinates)
    with pytest.raises(ZohoError) as raised:
        ZohoHook().get_job_status(JOB_KINDS[kind], {**coordinates, "job_id": "4711"})
    text = str(raised.value)
    assert text.startswith(f"{label} 4711 (connection 'zoho_default'): Zoho "), text
    assert f"answered {code} (HTTP " in text
    assert text.endswith(f"({meaning})"), text


def test_a_token_refusal_names_the_accounts_host(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.script_accounts([Fault("invalid_client")])
    with pytest.raises(ZohoError) as raised:
        ZohoHook().get_access_token()
    host = zoho_conn.base_url.removeprefix("http://")
    assert str(raised.value) == (
        f"Token request to Zoho accounts at {host} (connection 'zoho_default'): Zoho accounts answered "
        "invalid_client (HTTP 200): invalid_client "
        "(client id or secret wrong, or the client belongs to another data center)"
    )


def test_a_refused_connection_names_the_host_and_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conn = {"conn_type": "zoho", "login": "id", "password": "secret", "host": f"http://127.0.0.1:{port}"}
    conn["extra"] = json.dumps({"refresh_token": "1000.refresh.token"})
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_NOWHERE", json.dumps(conn))
    with pytest.raises(ZohoError) as raised:
        ZohoHook("zoho_nowhere").get_access_token()
    assert "the connection was refused, talking to 127.0.0.1" in str(raised.value)
    assert "CONNECTION_ERROR" in str(raised.value)


@pytest.mark.parametrize(
    ("cause", "words"),
    [
        (socket.gaierror(-2, "Name or service not known"), "did not resolve (DNS)"),
        (ssl.SSLCertVerificationError("certificate verify failed"), "TLS handshake failed"),
        (ConnectionResetError(104, "reset"), "connection was reset"),
    ],
)
def test_network_causes_are_named_through_the_libraries_wrapping(cause: BaseException, words: str) -> None:
    wrapped = OSError("wrapper")  # requests and aiohttp wrap the socket's error in two or three layers
    wrapped.__cause__ = cause
    outer = RuntimeError("outer")
    outer.__context__ = wrapped
    assert words in network_cause(outer)


def test_a_failed_poke_says_it_once(zoho_conn: ZohoEmulator, capfd: pytest.CaptureFixture[str]) -> None:
    zoho_conn.add_job("crm_bulk_write", "4711", [Fault("error", code="RESOURCE_NOT_FOUND")])
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="4711", poke_interval=0.01, timeout=30)
    with pytest.raises(AirflowFailException) as raised:
        sensor.execute(context={})  # type: ignore[arg-type]
    shown = "".join(traceback.format_exception(raised.value)) + "".join(capfd.readouterr())
    assert shown.count("RESOURCE_NOT_FOUND") == 1, shown
