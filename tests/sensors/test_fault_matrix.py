"""Every scripted fault x every job kind x poke and deferrable mode, asserting the task's final outcome.

Transient trouble must end in success once the job completes, with no more requests than the faults
themselves cost; permanent trouble must fail the task at once, with Zoho's own code in the message.
The permanent codes come from ``ERROR_RULES``, so a code added to the table is exercised here too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string

from airflow_provider_zoho.compat import AirflowFailException, AirflowSkipException
from airflow_provider_zoho.errors import ERROR_RULES, Outcome
from airflow_provider_zoho.hooks import ZohoHook, throttle
from airflow_provider_zoho.hooks.throttle import THROTTLE
from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE
from airflow_provider_zoho.jobs import get_job_kind
from airflow_provider_zoho.sensors import ZohoJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.kinds import KIND_FACTS
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.conftest import connection_uri_json
from tests.helpers import FINAL_STATES, JOB_COORDINATES, KINDS, MODES, SENSORS, first_event, rebuild, run_sensor

# Deferrable mode polls once on the worker before deferring: faults there take the sensor's path, faults
# later the trigger's. Poke mode has one path for every poll.
MODES_WHEN = pytest.mark.parametrize(
    ("deferrable", "first"),
    [(False, False), (True, False), (True, True)],
    ids=["poke", "deferrable", "deferrable, worker's first poll"],
)
ORG_ID = JOB_COORDINATES["analytics_import"]["org_id"]
# The "fast" connection's client timeout, for the slow-answer fault: far above what any other answer takes
# on a busy machine, since one more timed-out request would break the exact request counts.
REQUEST_TIMEOUT = 1.0
RETRY_AFTER = 0.05
THROTTLE_PAUSE = 0.2  # stands in for the 10 s pause after a 429 without Retry-After
_job_ids = itertools.count(700_000)


@pytest.fixture
def zoho(emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> ZohoEmulator:
    monkeypatch.setenv("AIRFLOW_CONN_ZOHO_DEFAULT", connection_uri_json(emulator, analytics_org_id=ORG_ID))
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_FAST", connection_uri_json(emulator, analytics_org_id=ORG_ID, timeout=REQUEST_TIMEOUT)
    )
    emulator.script_accounts([])
    emulator.reset_counters()
    return emulator


def add_job(emulator: ZohoEmulator, kind: str, steps: list[Any]) -> str:
    job_id = str(next(_job_ids))
    emulator.add_job(kind, job_id, steps, **JOB_COORDINATES[kind])
    return job_id


def make_sensor(kind: str, job_id: str, deferrable: bool, **kwargs: Any) -> ZohoJobSensor:
    options: dict[str, Any] = {"poke_interval": 0.02, "poll_interval": 0.02, "timeout": 20, **kwargs}
    return SENSORS[kind](
        task_id=f"wait_{kind}", job_id=job_id, deferrable=deferrable, **JOB_COORDINATES[kind], **options
    )


@dataclass(frozen=True)
class Transient:
    """Faults scripted between a pending and a completed state, and what they may cost."""

    faults: tuple[Fault, ...]
    tokens: int = 1  # token requests for the whole run
    accounts: tuple[Fault, ...] = ()  # answers of the token requests after the first one
    conn_id: str = "zoho_default"
    min_seconds_deferred: float = 0.0  # a pause the trigger must honour
    extra: dict[str, Any] = field(default_factory=dict)


# The hostile-endpoint faults (HOSTILE_FAULT_KINDS: redirect, echo, huge, gzip_bomb, drip, deep_json,
# huge_count, odd_expiry, bad_token) are left out of this matrix on purpose: what the provider must do
# with each is being settled with the provider (tests/hooks/test_hostile_endpoints.py) and has its own tests.
#
# A token refresh mid-job is forced by revoking the token the first poll used: the emulator's
# ``invalid_token`` fault does that, and the accounts script then answers the refresh.
_REFRESH = (Fault("invalid_token"),)

TRANSIENT: dict[str, Transient] = {
    "429 with Retry-After": Transient(
        (Fault("rate_limited", retry_after=RETRY_AFTER),), min_seconds_deferred=RETRY_AFTER
    ),
    "429 without Retry-After": Transient((Fault("rate_limited"),), min_seconds_deferred=THROTTLE_PAUSE),
    **{
        f"{status} {body}": Transient((Fault("server_error", status=status, html=body == "html"),))
        for status in (500, 502, 503)
        for body in ("zoho body", "html")
    },
    # aiohttp silently retries a GET once after a dropped connection: two resets fail one poll either way.
    "connection reset": Transient((Fault("reset"), Fault("reset"))),
    "slower than the client timeout": Transient((Fault("slow", delay=3 * REQUEST_TIMEOUT),), conn_id="zoho_fast"),
    "non-JSON body": Transient((Fault("non_json"),)),
    "missing fields": Transient((Fault("missing_fields"),)),
    "INVALID_TOKEN mid-job": Transient(_REFRESH, tokens=2),
    "accounts throttled (Access Denied)": Transient(_REFRESH, tokens=3, accounts=(Fault("throttle"),)),
    "accounts 503 html": Transient(_REFRESH, tokens=3, accounts=(Fault("server_error", status=503, html=True),)),
    "accounts connection reset": Transient(_REFRESH, tokens=3, accounts=(Fault("reset"),)),
}


@MODES_WHEN
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_faults_end_in_success(
    zoho: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, case: Transient, kind: str, first: bool, deferrable: bool
) -> None:
    monkeypatch.setattr(throttle, "DEFAULT_PAUSE_SECONDS", THROTTLE_PAUSE)
    pending, done = FINAL_STATES[kind]
    job_id = add_job(zoho, kind, [*case.faults, pending, done] if first else [pending, *case.faults, done])
    if case.accounts:
        ZohoHook().get_access_token()  # the token the job's first poll will use, got before the faults
        zoho.script_accounts(case.accounts)
    started = time.monotonic()
    summary = run_sensor(make_sensor(kind, job_id, deferrable, zoho_conn_id=case.conn_id))
    elapsed = time.monotonic() - started
    assert summary["state"] == done
    assert summary["job_id"] == job_id
    assert summary["kind"] == kind
    # One request per scripted step: no fault is retried more than once, no answer is asked for twice.
    assert zoho.status_requests(job_id) == 2 + len(case.faults)
    assert zoho.token_requests() == case.tokens
    if deferrable and not first:  # the trigger honours Retry-After and the connection's throttle pause
        assert elapsed >= case.min_seconds_deferred


def _permanent_codes() -> list[tuple[str, str]]:
    """Every (job kind, Zoho code) the table says fails the task, for the kinds whose dialect has it."""
    return [
        (kind, rule.code)
        for kind in KINDS
        for rule in ERROR_RULES
        if rule.outcome is Outcome.FAIL and rule.dialect is get_job_kind(kind).dialect
    ]


@MODES_WHEN
@pytest.mark.parametrize(("kind", "code"), _permanent_codes())
def test_permanent_zoho_errors_fail_at_once(
    zoho: ZohoEmulator, kind: str, code: str, first: bool, deferrable: bool
) -> None:
    pending, done = FINAL_STATES[kind]
    job_id = add_job(
        zoho, kind, [Fault("error", code=code), done] if first else [pending, Fault("error", code=code), done]
    )
    with pytest.raises(AirflowFailException) as failed:
        run_sensor(make_sensor(kind, job_id, deferrable))
    assert code in str(failed.value)
    assert zoho.status_requests(job_id) == (1 if first else 2)  # no retry of a permanent error
    assert zoho.token_requests() == 1


@MODES
@pytest.mark.parametrize("kind", KINDS)
def test_expired_job_summary_fails_at_once(zoho: ZohoEmulator, kind: str, deferrable: bool) -> None:
    pending, done = FINAL_STATES[kind]
    job_id = add_job(zoho, kind, [pending, Fault("expired"), done])
    with pytest.raises(AirflowFailException) as failed:
        run_sensor(make_sensor(kind, job_id, deferrable))
    assert str(KIND_FACTS[kind].expired) in str(failed.value)  # what the product answers once it expired
    if kind == "analytics_import":  # a job state, described with the job's id
        assert job_id in str(failed.value)
    assert zoho.status_requests(job_id) == 2


@MODES
@pytest.mark.parametrize("kind", KINDS)
def test_token_rejected_twice_fails_with_zoho_code(zoho: ZohoEmulator, kind: str, deferrable: bool) -> None:
    pending, done = FINAL_STATES[kind]
    job_id = add_job(zoho, kind, [pending, Fault("invalid_token"), Fault("invalid_token"), done])
    with pytest.raises(AirflowFailException) as failed:
        run_sensor(make_sensor(kind, job_id, deferrable))
    assert str(KIND_FACTS[kind].invalid_token[1]) in str(failed.value)
    assert zoho.status_requests(job_id) == 3  # the poll, and the one retry with a fresh token
    assert zoho.token_requests() == 2


@MODES
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("accounts_fault", ["invalid_code", "invalid_client"])
def test_refresh_token_refused_mid_job_fails_at_once(
    zoho: ZohoEmulator, kind: str, accounts_fault: str, deferrable: bool
) -> None:
    pending, done = FINAL_STATES[kind]
    job_id = add_job(zoho, kind, [pending, Fault("invalid_token"), done])
    ZohoHook().get_access_token()
    zoho.script_accounts([Fault(accounts_fault)])
    with pytest.raises(AirflowFailException) as failed:
        run_sensor(make_sensor(kind, job_id, deferrable))
    assert accounts_fault in str(failed.value)
    assert zoho.status_requests(job_id) == 2
    assert zoho.token_requests() == 2  # the one refresh Zoho refused, never tried again


@pytest.mark.parametrize(
    "deferrable",
    [
        pytest.param(
            False,
            id="poke",
        ),
        pytest.param(True, id="deferrable"),
    ],
)
def test_soft_fail_skips_a_permanent_zoho_error_and_logs_zoho_code(
    zoho: ZohoEmulator, capfd: pytest.CaptureFixture[str], deferrable: bool
) -> None:
    job_id = add_job(zoho, "crm_bulk_write", ["IN PROGRESS", Fault("error", code="OAUTH_SCOPE_MISMATCH")])
    with pytest.raises(AirflowSkipException) as skipped:
        run_sensor(make_sensor("crm_bulk_write", job_id, deferrable, soft_fail=True))
    assert "OAUTH_SCOPE_MISMATCH" in str(skipped.value.__cause__ or skipped.value)
    assert zoho.status_requests(job_id) == 2
    # A skipped task's log keeps only the skip's message: Zoho's words must have been logged before it.
    assert "OAUTH_SCOPE_MISMATCH" in capfd.readouterr().out


@MODES
@pytest.mark.parametrize("kind", KINDS)
def test_faults_back_to_back_are_all_polled_through(zoho: ZohoEmulator, kind: str, deferrable: bool) -> None:
    """Every transient fault in one job, in a row: still one request per step and one success."""
    pending, done = FINAL_STATES[kind]
    faults = [
        Fault("rate_limited", retry_after=0.01),
        Fault("server_error", status=502, html=True),
        Fault("reset"),
        Fault("reset"),
        Fault("non_json"),
        Fault("missing_fields"),
        Fault("server_error", status=503),
        Fault("invalid_token"),
    ]
    job_id = add_job(zoho, kind, [pending, *faults, pending, done])
    assert run_sensor(make_sensor(kind, job_id, deferrable))["state"] == done
    assert zoho.status_requests(job_id) == len(faults) + 3
    assert zoho.token_requests() == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "trouble",
    [Fault("rate_limited", retry_after=30), Fault("server_error", status=503)],
    ids=["backing off after a 429", "retrying a 503"],
)
async def test_triggerer_restart_while_backing_off_resumes_without_duplicates(
    zoho: ZohoEmulator, kind: str, trouble: Fault
) -> None:
    """The triggerer dies while the trigger waits out trouble; a new one resumes from the serialized form."""
    pending, done = FINAL_STATES[kind]
    job_id = add_job(zoho, kind, [pending, trouble, pending, done])
    coordinates = {"job_id": job_id, **JOB_COORDINATES[kind]}
    trigger = ZohoJobTrigger(
        kind=kind, coordinates=coordinates, end_time=time.time() + 20, poll_interval=0.1, max_backoff=30
    )
    stored = json.dumps(trigger.serialize())
    running = asyncio.create_task(first_event(rebuild(trigger)))
    while zoho.status_requests(job_id) < 2:  # noqa: ASYNC110 - the counter lives in the emulator thread
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # inside the backoff wait (or, at worst, still reading the answer)
    running.cancel()  # the triggerer process dies
    with pytest.raises(asyncio.CancelledError):
        await running
    TOKEN_CACHE.clear()  # a new process: no token, no memory of the throttling
    THROTTLE.clear()
    classpath, kwargs = json.loads(json.dumps(trigger.serialize()))
    assert json.dumps([classpath, kwargs]) == stored  # nothing of the run leaked into the stored form
    restarted = import_string(classpath)(**kwargs)
    event = await first_event(restarted)
    assert event["status"] == "success"
    assert event["summary"]["state"] == done
    assert zoho.status_requests(job_id) == 4  # one request per step: nothing polled twice
    assert zoho.token_requests() == 2  # one per triggerer process
