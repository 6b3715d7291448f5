"""Connections written as Airflow URIs, read by Airflow itself and used over real HTTP: the port and the extra.

``tests/test_connection_config.py`` checks the rules on plain fields; here Airflow parses an
``AIRFLOW_CONN_<ID>`` URI into host, port, schema and extra, and both hooks must reach the emulator at the
port the URI names, or fail at once naming the field when the extra is not a JSON object.
"""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlencode, urlsplit

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.connection_config import ZohoConnectionError
from airflow_provider_zoho.hooks import ZohoAsyncHook, ZohoHook
from airflow_provider_zoho.jobs import ANALYTICS_IMPORT, BIGIN_BULK_WRITE, CRM_BULK_WRITE, Phase
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.helpers import MODES, first_event

pytestmark = pytest.mark.usefixtures("async_session_cleanup")

CONN_ID = "zoho_uri"


def _uri(emulator: ZohoEmulator, *, scheme_in_host: bool, query: str) -> str:
    """The default client's connection to ``emulator`` as a URI, the plain-HTTP scheme said one of two ways.

    ``zoho://id:secret@127.0.0.1:PORT/http?...`` puts ``http`` in the connection's schema field (the URI's
    path); ``zoho://http://id:secret@127.0.0.1:PORT/?...`` keeps it in host. Either way the port has its own field.
    """
    client = ZohoEmulator.DEFAULT_CLIENT
    address = urlsplit(emulator.base_url)
    credentials = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
    if scheme_in_host:
        return f"zoho://http://{credentials}@{address.hostname}:{address.port}/?{query}"
    return f"zoho://{credentials}@{address.hostname}:{address.port}/http?{query}"


def _query(**extra: object) -> str:
    return urlencode({"refresh_token": ZohoEmulator.DEFAULT_CLIENT.refresh_token, "timeout": 5, **extra})


def _extra_query(extra: str) -> str:
    """Airflow's ``__extra__`` query parameter: the whole extra as one JSON text."""
    return urlencode({"__extra__": extra})


URI_FORMS = pytest.mark.parametrize("scheme_in_host", [False, True], ids=["schema-field", "scheme-in-host"])


@URI_FORMS
def test_sync_hook_reaches_the_port_of_a_uri_connection(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, scheme_in_host: bool
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=scheme_in_host, query=_query())
    )
    zoho_emulator.add_job("crm_bulk_write", "12", ["COMPLETED"])
    hook = ZohoHook(CONN_ID)
    assert hook.config.base_url_override == zoho_emulator.base_url
    assert hook.get_job_status(CRM_BULK_WRITE, {"job_id": "12"}).phase is Phase.SUCCEEDED
    assert zoho_emulator.token_requests() == 1


@URI_FORMS
async def test_async_hook_reaches_the_port_of_a_uri_connection(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, scheme_in_host: bool
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=scheme_in_host, query=_query())
    )
    zoho_emulator.add_job("bigin_bulk_write", "13", ["COMPLETED"])
    job = await ZohoAsyncHook(CONN_ID).get_job_status(BIGIN_BULK_WRITE, {"job_id": "13"})
    assert job.phase is Phase.SUCCEEDED
    assert zoho_emulator.token_requests() == 1


def test_extra_given_whole_in_the_uri_is_read(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = json.dumps({"refresh_token": ZohoEmulator.DEFAULT_CLIENT.refresh_token, "analytics_org_id": "55522777"})
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=False, query=_extra_query(extra))
    )
    zoho_emulator.add_job("analytics_import", "11", ["1004"], workspace_id="22", org_id="55522777")
    job = ZohoHook(CONN_ID).get_job_status(ANALYTICS_IMPORT, {"workspace_id": "22", "job_id": "11"})
    assert job.phase is Phase.SUCCEEDED


NOT_AN_OBJECT = pytest.mark.parametrize("extra", ['["refresh_token"]', '"refresh_token"', "42"])


@NOT_AN_OBJECT
def test_sync_hook_rejects_an_extra_that_is_not_a_json_object(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=False, query=_extra_query(extra))
    )
    with pytest.raises(ZohoConnectionError, match="extra must be a JSON object"):
        ZohoHook(CONN_ID).get_access_token()
    assert zoho_emulator.token_requests() == 0


@NOT_AN_OBJECT
async def test_async_hook_rejects_an_extra_that_is_not_a_json_object(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=False, query=_extra_query(extra))
    )
    with pytest.raises(ZohoConnectionError, match="extra must be a JSON object"):
        await ZohoAsyncHook(CONN_ID).get_access_token()
    assert zoho_emulator.token_requests() == 0


BAD_VALUES = pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timeout": "nan"}, "extra 'timeout' must be a positive number of seconds"),
        ({"timeout": "inf"}, "extra 'timeout' must be a positive number of seconds"),
        ({"analytics_org_id": "555\r\nX-Evil: 1"}, "analytics_org_id must be Zoho's numeric organization id"),
        ({"refresh_token": "r\r\nX-Evil: 1"}, "refresh_token contains a line break or control character"),
    ],
    ids=["timeout-nan", "timeout-inf", "org-id-crlf", "refresh-token-crlf"],
)


def _names_the_field_safely(text: str, extra: dict[str, str], message: str) -> None:
    """The message names the field, shows an org id only escaped, and a secret not at all."""
    assert message in text
    assert "\r\n" not in text
    if "refresh_token" in extra:
        assert "X-Evil" not in text


@MODES
@BAD_VALUES
def test_a_bad_value_fails_the_sensor_at_once_naming_the_field(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], message: str, deferrable: bool
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=False, query=_query(**extra))
    )
    sensor = ZohoCRMBulkWriteJobSensor(task_id="wait", job_id="1", zoho_conn_id=CONN_ID, deferrable=deferrable)
    with pytest.raises(AirflowFailException) as failed:
        sensor.execute(context={})  # type: ignore[arg-type]
    _names_the_field_safely(str(failed.value), extra, message)
    assert zoho_emulator.token_requests() == 0


@BAD_VALUES
async def test_a_bad_value_ends_the_trigger_with_an_error_event(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, extra: dict[str, str], message: str
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", _uri(zoho_emulator, scheme_in_host=False, query=_query(**extra))
    )
    trigger = ZohoJobTrigger(
        kind="crm_bulk_write", coordinates={"job_id": "1"}, end_time=time.time() + 30, zoho_conn_id=CONN_ID
    )
    event = await first_event(trigger)
    assert event["status"] == "error"
    _names_the_field_safely(event["message"], extra, message)
    assert zoho_emulator.token_requests() == 0
