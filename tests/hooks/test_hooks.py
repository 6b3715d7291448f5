"""Both hooks over real HTTP against the emulator: tokens, sharing, refresh-once, errors, the Test button."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from airflow_provider_zoho.exceptions import ZohoFatalError, ZohoTokenInvalidError, ZohoTransientError
from airflow_provider_zoho.hooks import ZohoAsyncHook, ZohoHook
from airflow_provider_zoho.hooks.exchange import token_request
from airflow_provider_zoho.hooks.throttle import (
    DEFAULT_PAUSE_SECONDS,
    MAX_TOKEN_PAUSE_SECONDS,
    TOKEN_WINDOW_SECONDS,
    Throttle,
)
from airflow_provider_zoho.hooks.token_cache import TokenCache
from airflow_provider_zoho.jobs import (
    ANALYTICS_IMPORT,
    BIGIN_BULK_WRITE,
    CREATOR_BULK_INSERT,
    CRM_BULK_WRITE,
    JOB_KINDS,
    Phase,
)
from airflow_provider_zoho.testing import Fault, ZohoEmulator

pytestmark = pytest.mark.usefixtures("async_session_cleanup")

CREATOR = {"account_owner_name": "jason18", "app_link_name": "zylker-store", "form_link_name": "Employees"}


def test_status_of_each_kind_with_the_connection_defaults(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("analytics_import", "11", ["1004"], workspace_id="22", org_id="55522777")
    zoho_conn.add_job("crm_bulk_write", "12", ["COMPLETED"])
    zoho_conn.add_job("bigin_bulk_write", "13", ["COMPLETED"])
    zoho_conn.add_job("creator_bulk_insert", "14", ["Completed"], **CREATOR)
    hook = ZohoHook()
    # org_id comes from the connection's analytics_org_id: without it the emulator answers 8083.
    assert hook.get_job_status(ANALYTICS_IMPORT, {"workspace_id": "22", "job_id": "11"}).phase is Phase.SUCCEEDED
    assert hook.get_job_status(CRM_BULK_WRITE, {"job_id": "12"}).phase is Phase.SUCCEEDED
    assert hook.get_job_status(BIGIN_BULK_WRITE, {"job_id": "13"}).phase is Phase.SUCCEEDED
    assert hook.get_job_status(CREATOR_BULK_INSERT, {**CREATOR, "job_id": "14"}).phase is Phase.SUCCEEDED
    assert zoho_conn.token_requests() == 1


def test_missing_org_id_fails_with_zoho_8083(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import connection_uri_json

    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_NO_ORG", connection_uri_json(zoho_emulator))
    zoho_emulator.add_job("analytics_import", "11", ["1004"], workspace_id="22", org_id="1")
    with pytest.raises(ZohoFatalError, match="8083"):
        ZohoHook("zoho_no_org").get_job_status(ANALYTICS_IMPORT, {"workspace_id": "22", "job_id": "11"})


def test_creator_environment_header_is_sent(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("creator_bulk_insert", "14", ["Completed"], environment="stage", **CREATOR)
    hook = ZohoHook()
    with pytest.raises(ZohoFatalError, match="1000"):
        hook.get_job_status(CREATOR_BULK_INSERT, {**CREATOR, "job_id": "14"})
    job = hook.get_job_status(CREATOR_BULK_INSERT, {**CREATOR, "job_id": "14", "environment": "stage"})
    assert job.phase is Phase.SUCCEEDED


def test_sync_threads_share_one_token(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", ["IN PROGRESS"])
    errors: list[BaseException] = []

    def poke() -> None:
        try:
            ZohoHook().get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=poke) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert zoho_conn.status_requests("12") == 20
    assert zoho_conn.token_requests() == 1


async def test_async_pollers_share_one_token(zoho_conn: ZohoEmulator) -> None:
    for number in range(50):
        zoho_conn.add_job("bigin_bulk_write", str(1000 + number), ["IN PROGRESS"])
    jobs = await asyncio.gather(
        *(ZohoAsyncHook().get_job_status(BIGIN_BULK_WRITE, {"job_id": str(1000 + n)}) for n in range(50))
    )
    assert {job.phase for job in jobs} == {Phase.PENDING}
    assert zoho_conn.token_requests() == 1
    assert zoho_conn.status_requests() == 50


def test_rejected_token_is_refreshed_once(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", [Fault("invalid_token"), "COMPLETED"])
    assert ZohoHook().get_job_status(CRM_BULK_WRITE, {"job_id": "12"}).phase is Phase.SUCCEEDED
    assert zoho_conn.token_requests() == 2
    assert zoho_conn.status_requests("12") == 2


@pytest.mark.parametrize(
    ("kind", "coordinates"),
    [
        ("analytics_import", {"workspace_id": "22", "org_id": "55522777"}),
        ("crm_bulk_write", {}),
        ("creator_bulk_insert", CREATOR),
    ],
)
async def test_async_rejected_token_is_refreshed_once(
    zoho_conn: ZohoEmulator, kind: str, coordinates: dict[str, str]
) -> None:
    final = {"analytics_import": "1004", "crm_bulk_write": "COMPLETED", "creator_bulk_insert": "Completed"}[kind]
    zoho_conn.add_job(kind, "12", [Fault("invalid_token"), final], **coordinates)
    job = await ZohoAsyncHook().get_job_status(JOB_KINDS[kind], {**coordinates, "job_id": "12"})
    assert job.phase is Phase.SUCCEEDED
    assert zoho_conn.token_requests() == 2


def test_token_rejected_twice_is_not_retried_again(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", [Fault("invalid_token"), Fault("invalid_token"), "COMPLETED"])
    with pytest.raises(ZohoTokenInvalidError, match="INVALID_TOKEN"):
        ZohoHook().get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    assert zoho_conn.status_requests("12") == 2


def test_expired_token_is_refreshed_before_use(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import connection_uri_json

    # Zoho's token lives shorter than the refresh margin: every call needs a new one.
    short = ZohoEmulator(token_ttl=20).start()
    try:
        short.add_client(*ZohoEmulator.DEFAULT_CLIENT)
        short.add_job("crm_bulk_write", "12", ["IN PROGRESS"])
        monkeypatch.setenv("AIRFLOW_CONN_ZOHO_SHORT", connection_uri_json(short))
        hook = ZohoHook("zoho_short")
        hook.get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
        hook.get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
        assert short.token_requests() == 2
    finally:
        short.stop()


@pytest.mark.parametrize(
    ("fault", "error_class", "code"),
    [
        (Fault("error", code="NO_PERMISSION"), ZohoFatalError, "NO_PERMISSION"),
        (Fault("error", code="OAUTH_SCOPE_MISMATCH"), ZohoFatalError, "OAUTH_SCOPE_MISMATCH"),
        (Fault("rate_limited", retry_after=3), ZohoTransientError, "TOO_MANY_REQUESTS"),
        (Fault("server_error", status=502, html=True), ZohoTransientError, "HTTP_5xx"),
        (Fault("non_json"), ZohoTransientError, "INVALID_RESPONSE"),
        (Fault("reset"), ZohoTransientError, "CONNECTION_ERROR"),
    ],
)
def test_errors_become_typed_exceptions(zoho_conn: ZohoEmulator, fault: Fault, error_class: type, code: str) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", [fault, "COMPLETED"])
    with pytest.raises(error_class) as raised:
        ZohoHook().get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    assert raised.value.code == code
    if fault.retry_after:
        assert raised.value.retry_after == fault.retry_after


async def test_a_429_pauses_every_poller_of_the_connection(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("crm_bulk_write", "12", [Fault("rate_limited", retry_after=30), "COMPLETED"])
    first, second = ZohoAsyncHook(), ZohoAsyncHook()
    with pytest.raises(ZohoTransientError):
        await first.get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    await second.get_config()
    assert 25 < second.throttle_remaining() <= 30


async def test_slow_answers_time_out(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import connection_uri_json

    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_FAST", connection_uri_json(zoho_emulator, timeout=0.3))
    zoho_emulator.add_job("crm_bulk_write", "12", [Fault("slow", delay=2), "COMPLETED"])
    with pytest.raises(ZohoTransientError, match="TIMEOUT"):
        await ZohoAsyncHook("zoho_fast").get_job_status(CRM_BULK_WRITE, {"job_id": "12"})


@pytest.mark.parametrize(
    ("fault", "expected"),
    [(Fault("invalid_code"), "invalid_code"), (Fault("invalid_client"), "invalid_client")],
)
def test_test_connection_reports_zoho_error(zoho_conn: ZohoEmulator, fault: Fault, expected: str) -> None:
    zoho_conn.script_accounts([fault])
    ok, message = ZohoHook().test_connection()
    assert not ok
    assert expected in message


def test_test_connection_succeeds_and_caches_the_token(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.analytics_orgs.add("55522777")
    ok, message = ZohoHook().test_connection()
    assert ok, message
    zoho_conn.add_job("crm_bulk_write", "12", ["COMPLETED"])
    ZohoHook().get_job_status(CRM_BULK_WRITE, {"job_id": "12"})
    assert zoho_conn.token_requests() == 1


def test_wrong_secret_is_invalid_client(zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import connection_uri_json

    conn = json.loads(connection_uri_json(zoho_emulator))
    conn["password"] = "wrong"
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_WRONG", json.dumps(conn))
    with pytest.raises(ZohoFatalError, match="invalid_client"):
        ZohoHook("zoho_wrong").get_access_token()


def test_token_throttle_is_transient(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.script_accounts([Fault("throttle")])
    with pytest.raises(ZohoTransientError, match="Access Denied"):
        ZohoHook().get_access_token()
    assert ZohoHook().get_access_token().value in zoho_conn.issued_tokens


def test_repr_holds_no_secret(zoho_conn: ZohoEmulator) -> None:
    hook = ZohoHook()
    token = hook.get_access_token()
    texts = (repr(hook), repr(hook.config), repr(token), repr(ZohoAsyncHook()), repr(token_request(hook.config)))
    for text in texts:
        assert ZohoEmulator.DEFAULT_CLIENT.client_secret not in text
        assert ZohoEmulator.DEFAULT_CLIENT.refresh_token not in text
        assert token.value not in text


async def test_a_refused_token_request_pauses_the_connection(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.script_accounts([Fault("throttle")])
    first, second = ZohoAsyncHook(), ZohoAsyncHook()
    with pytest.raises(ZohoTransientError, match="Access Denied"):
        await first.get_access_token()
    await second.get_config()
    assert second.throttle_remaining() > DEFAULT_PAUSE_SECONDS - 5


async def test_each_refused_token_request_in_a_row_doubles_the_pause_until_one_is_granted(
    zoho_conn: ZohoEmulator,
) -> None:
    """Zoho refuses token requests for the rest of its 10-minute window: asking every 10 s until it ends would
    spend ~60 requests on refusals. The clock moves only when the test moves it, so each pause is read whole."""
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    hook = ZohoAsyncHook(token_cache=TokenCache(), throttle=throttle)
    key = (await hook.get_config()).token_cache_key

    async def refused(asking: ZohoAsyncHook = hook) -> float:
        zoho_conn.script_accounts([Fault("throttle")])
        with pytest.raises(ZohoTransientError, match="Access Denied"):
            await asking.get_access_token()
        pause = throttle.remaining(key)
        now[0] += pause  # the pause ends before the next attempt, as a trigger waits it out
        return pause

    ten = DEFAULT_PAUSE_SECONDS
    assert await refused() == ten
    now[0] -= ten / 2  # a request sent halfway through the pause (a trigger starting with a poll), refused
    assert await refused() == ten, "the same pause again, not a longer one"
    assert [await refused() for _ in range(6)] == [2 * ten, 4 * ten, 8 * ten, *[MAX_TOKEN_PAUSE_SECONDS] * 3]
    assert zoho_conn.token_requests() == 8, "the hook never repeats a refused token request itself"

    assert (await hook.get_access_token()).value in zoho_conn.issued_tokens
    fresh_hook = ZohoAsyncHook(token_cache=TokenCache(), throttle=throttle)
    assert await refused(fresh_hook) == ten, "a granted token starts the doubling over"
    assert await refused(fresh_hook) == 2 * ten
    now[0] += TOKEN_WINDOW_SECONDS
    assert await refused(fresh_hook) == ten, "so does a failure a whole window after the last"


async def test_waiting_for_a_pooled_socket_is_not_a_request_timeout(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six polls share one request slot; each answer takes 0.3 s of a 1.3 s timeout, the queue longer (1.8 s).

    The timeout leaves each answer a second to spare, for a busy machine; the last poll's wait for the
    slot still outlasts it.
    """
    from tests.conftest import connection_uri_json

    answer_seconds, timeout, polls = 0.3, 1.3, 6
    assert polls * answer_seconds > timeout
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_ONE_SOCKET",
        connection_uri_json(zoho_emulator, timeout=timeout, max_concurrent_requests=1),
    )
    job_ids = [str(50 + number) for number in range(polls)]
    for job_id in job_ids:
        zoho_emulator.add_job("crm_bulk_write", job_id, [Fault("slow", delay=answer_seconds), "COMPLETED"])
    hook = ZohoAsyncHook("zoho_one_socket")
    await hook.get_access_token()
    jobs = await asyncio.gather(*(hook.get_job_status(CRM_BULK_WRITE, {"job_id": job_id}) for job_id in job_ids))
    assert [job.state for job in jobs] == ["COMPLETED"] * polls  # a slow step answers the script's first state
    assert zoho_emulator.max_concurrent_connections == 1


def test_the_test_button_checks_the_analytics_org(zoho_conn: ZohoEmulator) -> None:
    """The connection names analytics_org_id 55522777 (tests/conftest.py)."""
    ok, message = ZohoHook().test_connection()
    assert not ok
    assert "analytics_org_id 55522777 is not among the token user's Analytics organizations (none)" in message
    zoho_conn.analytics_orgs.update({"55522777", "60000001"})
    ok, message = ZohoHook().test_connection()
    assert ok, message
    assert "Analytics organization 55522777 is one of the token user's" in message


def test_the_test_button_notes_an_org_it_may_not_list(zoho_conn: ZohoEmulator) -> None:
    """A token without ZohoAnalytics.metadata.read still serves the sensors: a note, not a failure."""
    zoho_conn.analytics_orgs_refusal = 7301  # SECURITY_NOT_PERMITTED
    ok, message = ZohoHook().test_connection()
    assert ok, message
    assert "The analytics_org_id was not checked (7301: add ZohoAnalytics.metadata.read)" in message
