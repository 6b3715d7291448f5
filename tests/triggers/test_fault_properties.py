"""Random fault sequences against the trigger, checked against what the classification table predicts.

Hypothesis draws a job kind, a short script (pending states and faults, ending in a terminal state) and
what the accounts server answers to token refreshes. ``predict`` walks the script the way the async hook
and the trigger must: it decides every step with ``classify`` (the ``ERROR_RULES`` table) and the job kind's
state sets, using the emulator's dialects only to know which code and HTTP status Zoho would send.
The trigger then runs for real (serialized, rebuilt, polling the emulator over HTTP) and must end with
the predicted event, after exactly the predicted number of status and token requests.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_zoho.errors import ERROR_RULES, Outcome, classify, http_fallback_code
from airflow_provider_zoho.hooks import throttle, token_cache
from airflow_provider_zoho.hooks.throttle import THROTTLE
from airflow_provider_zoho.jobs import get_job_kind, normalize_state
from airflow_provider_zoho.products import Dialect
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.testing.dialects import Step
from airflow_provider_zoho.testing.faults import ACCOUNT_FAULT_KINDS, HOSTILE_FAULT_KINDS, JOB_FAULT_KINDS
from airflow_provider_zoho.testing.kinds import KIND_FACTS
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.conftest import connection_uri_json
from tests.helpers import JOB_COORDINATES, first_event, rebuild

CONN_ID = "zoho_properties"
# Far above what any answer but a slow one takes on a busy machine: one more timed-out request would
# break the predicted request counts.
REQUEST_TIMEOUT = 1.0
_job_ids = itertools.count(900_000)

# States as each product spells them, what it answers once a job's summary expired, and a code in no
# table: the per-kind test facts (testing/kinds.py). What states and codes mean comes from the provider.


def _phase(kind: str, state: str) -> str:
    job_kind = get_job_kind(kind)
    if normalize_state(state) in job_kind.succeeded:
        return "success"
    if normalize_state(state) in job_kind.failed:
        return "failed"
    return "pending"


def _error_codes(kind: str) -> list[str | int]:
    """Every code the provider's table or the emulator's dialect knows for this kind, plus an unknown one."""
    dialect = get_job_kind(kind).dialect
    product = KIND_FACTS[kind].product
    table = [product.coerce_code(rule.code) for rule in ERROR_RULES if rule.dialect is dialect]
    return sorted({*table, *product.errors, KIND_FACTS[kind].unknown_code}, key=str)


# The job and accounts faults the strategies draw and the model predicts. The hostile-endpoint faults
# (HOSTILE_FAULT_KINDS: redirect, echo, huge, gzip_bomb, drip, deep_json, huge_count, odd_expiry,
# bad_token) are left out on purpose: what the provider must do with them is being settled with the
# provider (tests/hooks/test_hostile_endpoints.py) and has its own tests; add them here once the error table classifies them.
MODELLED_JOB_FAULTS = frozenset(
    {"rate_limited", "server_error", "reset", "non_json", "missing_fields", "invalid_token", "expired", "error", "slow"}
)
MODELLED_ACCOUNT_FAULTS = frozenset({"throttle", "server_error", "reset", "invalid_code", "invalid_client"})


def test_every_fault_but_the_hostile_ones_is_modelled() -> None:
    """A fault kind added to the emulator must be drawn and predicted here, or named as left out."""
    assert MODELLED_JOB_FAULTS == JOB_FAULT_KINDS - HOSTILE_FAULT_KINDS
    assert MODELLED_ACCOUNT_FAULTS == ACCOUNT_FAULT_KINDS - HOSTILE_FAULT_KINDS


# -- strategies -------------------------------------------------------------------------------------------
@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, list[Step], list[Fault]]:
    kind = draw(st.sampled_from(sorted(KIND_FACTS)))
    states = KIND_FACTS[kind].states
    pending = [state for state in states if _phase(kind, state) == "pending"]
    terminal = [state for state in states if _phase(kind, state) != "pending"]
    fault = st.one_of(
        st.builds(Fault, st.just("rate_limited"), retry_after=st.sampled_from([None, 0.0, 0.01])),
        st.builds(Fault, st.just("server_error"), status=st.sampled_from([500, 502, 503, 504]), html=st.booleans()),
        st.just(Fault("reset")),
        st.just(Fault("non_json")),
        st.just(Fault("missing_fields")),
        st.just(Fault("invalid_token")),
        st.just(Fault("expired")),
        st.builds(
            Fault,
            st.just("error"),
            code=st.sampled_from(_error_codes(kind)),
            status=st.sampled_from([None, None, 200, 400, 404, 429, 500, 503]),
        ),
    )
    usual = st.one_of(st.sampled_from(pending), fault)
    # A slow answer costs a whole request timeout: drawn rarely.
    slow = st.just(Fault("slow", delay=2 * REQUEST_TIMEOUT))
    step = st.integers(0, 19).flatmap(lambda n: slow if n == 0 else usual)
    steps: list[Step] = [*draw(st.lists(step, max_size=5)), draw(st.sampled_from(terminal))]
    # Most runs refresh without trouble; the rest script what the accounts server answers.
    account_fault = st.sampled_from(
        [
            Fault("throttle"),
            Fault("server_error", status=503),
            Fault("server_error", status=502, html=True),
            Fault("reset"),
            Fault("invalid_code"),
            Fault("invalid_client"),
        ]
    )
    accounts = draw(st.one_of(st.just([]), st.lists(account_fault, min_size=1, max_size=2)))
    return kind, steps, accounts


# -- the model --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """What one status GET means to the poll loop: a job phase, or a classified error."""

    outcome: Outcome | None  # None: a job state, see ``phase``
    code: str = ""
    phase: str = ""


def _classified(dialect: Dialect, code: str | int, http_status: int) -> Answer:
    return Answer(classify(dialect, str(code), http_status), str(code))


def answer(kind: str, step: Step) -> Answer:
    """What the provider must make of the emulator's answer to ``step``, by the tables alone."""
    if isinstance(step, str):
        return Answer(None, phase=_phase(kind, step))
    dialect = get_job_kind(kind).dialect  # the provider's error table for the kind
    emulated = KIND_FACTS[kind].product  # the emulator's model of the kind: which code and status Zoho sends
    if step.kind == "rate_limited":
        return _classified(dialect, emulated.rate_limit_code, 429)
    if step.kind == "server_error":
        status = step.status or 500
        if step.html:
            return _classified(Dialect.HTTP, http_fallback_code(status), status)
        return _classified(dialect, emulated.server_error_code, status)
    if step.kind == "invalid_token":
        return _classified(dialect, emulated.invalid_token_code, emulated.invalid_token().status)
    if step.kind == "error":
        assert step.code is not None
        return _classified(dialect, step.code, emulated.error(step.code, step.status).status)
    if step.kind == "expired":
        gone = KIND_FACTS[kind].expired
        if isinstance(gone, str) and gone in KIND_FACTS[kind].states:
            return Answer(None, phase=_phase(kind, gone))
        return _classified(dialect, gone, emulated.error(gone).status)
    if step.kind == "missing_fields":
        return Answer(None, phase="pending")  # no state in the body: unknown, so still running
    if step.kind == "non_json":
        return _classified(Dialect.HTTP, "INVALID_RESPONSE", 200)
    if step.kind == "slow":
        return Answer(classify(Dialect.HTTP, "TIMEOUT", None), "TIMEOUT")
    raise AssertionError(f"no model for {step}")


def account_answer(fault: Fault) -> Answer:
    if fault.kind == "throttle":
        return _classified(Dialect.ACCOUNTS, "Access Denied", 200)
    if fault.kind == "server_error":
        status = fault.status or 500
        if fault.html:
            return _classified(Dialect.HTTP, http_fallback_code(status), status)
        return _classified(Dialect.ACCOUNTS, "internal_error", status)
    if fault.kind == "reset":  # a POST is not retried by aiohttp
        return Answer(classify(Dialect.HTTP, "CONNECTION_ERROR", None), "CONNECTION_ERROR")
    return _classified(Dialect.ACCOUNTS, fault.kind, 200)


@dataclass(frozen=True)
class Prediction:
    status: str  # the trigger event's status
    code: str | None
    status_requests: int
    token_requests: int


class _Retry(Exception):
    """A transient failure: the trigger polls again."""


class _Ended(Exception):
    def __init__(self, status: str, code: str | None = None) -> None:
        self.status, self.code = status, code


def predict(kind: str, steps: list[Step], accounts: list[Fault]) -> Prediction:
    """The event, status GETs and token POSTs the trigger must produce for this script."""
    position = polls = tokens = 0
    refreshes = list(accounts)
    have_token = False

    def take() -> Step:
        nonlocal position, polls
        step = steps[min(position, len(steps) - 1)]  # the last step repeats
        position += 1
        polls += 1
        return step

    def get_token() -> None:
        nonlocal tokens, have_token
        tokens += 1
        if refreshes:
            refused = account_answer(refreshes.pop(0))
            if refused.outcome is Outcome.FAIL:
                raise _Ended("error", refused.code)
            raise _Retry
        have_token = True

    def get() -> Answer:
        step = take()
        if isinstance(step, Fault) and step.kind == "reset":
            step = take()  # aiohttp resends an idempotent GET once on a new connection
            if isinstance(step, Fault) and step.kind == "reset":
                return Answer(classify(Dialect.HTTP, "CONNECTION_ERROR", None), "CONNECTION_ERROR")
        return answer(kind, step)

    def poll() -> None:
        nonlocal have_token
        if not have_token:
            get_token()
        result = get()
        if result.outcome is Outcome.REFRESH_TOKEN:  # drop the token, get a new one, retry once
            have_token = False
            get_token()
            result = get()
            if result.outcome is Outcome.REFRESH_TOKEN:
                raise _Ended("error", result.code)
        if result.outcome is Outcome.FAIL:
            raise _Ended("error", result.code)
        if result.outcome is Outcome.KEEP_POLLING:
            raise _Retry
        if result.phase != "pending":
            raise _Ended(result.phase)

    for _ in range(100):
        try:
            poll()
        except _Retry:
            continue
        except _Ended as ended:
            return Prediction(ended.status, ended.code, polls, tokens)
    raise AssertionError("the model never ends: the script must end with a terminal state")


# -- the test ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emulator() -> Iterator[ZohoEmulator]:
    with ZohoEmulator(token_limit_per_window=1_000_000) as emulator, pytest.MonkeyPatch.context() as patch:
        emulator.add_client(*ZohoEmulator.DEFAULT_CLIENT)
        patch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", connection_uri_json(emulator, timeout=REQUEST_TIMEOUT))
        # The pause after a 429 without Retry-After (10 s) is what a triggerer wants, not a test.
        patch.setattr(throttle, "DEFAULT_PAUSE_SECONDS", 0.05)
        yield emulator


def run_trigger(emulator: ZohoEmulator, kind: str, steps: list[Step], accounts: list[Fault]) -> dict[str, Any]:
    job_id = str(next(_job_ids))
    emulator.add_job(kind, job_id, steps, **JOB_COORDINATES[kind])
    token_cache.TOKEN_CACHE.clear()
    THROTTLE.clear()
    emulator.script_accounts(accounts)
    emulator.reset_counters()
    coordinates = {"job_id": job_id, **JOB_COORDINATES[kind]}
    trigger = ZohoJobTrigger(
        kind=kind,
        coordinates=coordinates,
        end_time=time.time() + 60,
        zoho_conn_id=CONN_ID,
        poll_interval=0.02,
        max_backoff=0.1,
    )
    event = asyncio.run(first_event(rebuild(trigger), limit=30))
    return {"event": event, "job_id": job_id}


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_random_fault_sequences_end_as_the_table_predicts(
    emulator: ZohoEmulator, scenario: tuple[str, list[Step], list[Fault]]
) -> None:
    kind, steps, accounts = scenario
    expected = predict(kind, steps, accounts)
    event(f"{expected.status} after {expected.status_requests} polls, {expected.token_requests} tokens")
    ran = run_trigger(emulator, kind, steps, accounts)
    outcome = ran["event"]
    assert outcome["status"] == expected.status, outcome
    if expected.code is not None:
        assert outcome["error"]["code"] == expected.code
        assert expected.code in outcome["message"]
    if expected.status in ("success", "failed"):
        assert outcome["summary"]["job_id"] == ran["job_id"]
    assert emulator.status_requests(ran["job_id"]) == expected.status_requests
    assert emulator.token_requests() == expected.token_requests


def test_the_model_knows_the_table() -> None:
    """A sanity check of ``predict`` itself, on scripts whose outcome is known by heart."""
    assert predict("crm_bulk_write", ["IN PROGRESS", "COMPLETED"], []) == Prediction("success", None, 2, 1)
    assert predict("crm_bulk_write", [Fault("rate_limited"), "FAILED"], []) == Prediction("failed", None, 2, 1)
    assert predict("creator_bulk_insert", [Fault("error", code=4000), "Completed"], []) == Prediction(
        "error", "4000", 1, 1
    )
    assert predict("analytics_import", [Fault("invalid_token"), "1004"], []) == Prediction("success", None, 2, 2)
    assert predict("analytics_import", [Fault("invalid_token"), Fault("invalid_token"), "1004"], []) == Prediction(
        "error", "8535", 2, 2
    )
    assert predict("bigin_bulk_write", [Fault("reset"), Fault("error", code="NO_PERMISSION"), "COMPLETED"], []) == (
        Prediction("error", "NO_PERMISSION", 2, 1)
    )
    assert predict("crm_bulk_write", ["COMPLETED"], [Fault("throttle"), Fault("invalid_code")]) == Prediction(
        "error", "invalid_code", 0, 2
    )
    assert predict("crm_bulk_write", [Fault("error", code="SOMETHING_NEW", status=503), "COMPLETED"], []) == (
        Prediction("success", None, 2, 1)
    )
