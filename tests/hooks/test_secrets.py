"""The client secret, the refresh token and every access token stay where the user put them.

Each test registers a client with fresh random credentials, so that a secret found anywhere can only
have come from that test, and so that the secrets masker cannot have learnt them from an earlier test.
They must never appear in a trigger's serialized form, the task log, an exception (with its causes),
an XCom value or trigger event, or the repr of a hook or trigger; and they are registered with
Airflow's secrets masker as soon as they are read.

The log is captured raw: outside a task runner Airflow's structlog loggers print to stdout without
redaction (``test_the_log_capture_is_raw`` checks that), and stdlib records (urllib3's request lines)
are captured by ``caplog`` at DEBUG.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import traceback
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred, redact

from airflow_provider_zoho.compat import AirflowFailException, AirflowSensorTimeout, mask_secret
from airflow_provider_zoho.exceptions import ZohoFatalError
from airflow_provider_zoho.hooks import ZohoAsyncHook, ZohoHook
from airflow_provider_zoho.hooks.zoho_async import close_shared_session
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.testing import Fault, ZohoEmulator
from airflow_provider_zoho.triggers import ZohoJobTrigger
from tests.helpers import first_event, rebuild

CONN_ID = "zoho_secrets"
TOKEN_LINE = "Got a Zoho access token"


@dataclass
class Credentials:
    emulator: ZohoEmulator
    client_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)
    tokens_before: int
    monkeypatch: pytest.MonkeyPatch = field(repr=False)

    def connect(self, conn_id: str = CONN_ID, *, password: str | None = None, timeout: float = 5) -> None:
        """Point ``conn_id`` at the emulator with these credentials (or a wrong ``password``)."""
        conn = {
            "conn_type": "zoho",
            "login": self.client_id,
            "password": password or self.client_secret,
            "host": self.emulator.base_url,
            "extra": {"refresh_token": self.refresh_token, "timeout": timeout},
        }
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))

    @property
    def issued(self) -> list[str]:
        """The access tokens the emulator issued during this test."""
        return self.emulator.issued_tokens[self.tokens_before :]

    def all_secrets(self) -> list[str]:
        return [self.client_secret, self.refresh_token, *self.emulator.issued_tokens]


@pytest.fixture
def creds(emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> Credentials:
    found = Credentials(
        emulator,
        client_id=f"client-{secrets.token_hex(6)}",
        client_secret=secrets.token_hex(16),  # hex only: a word here could already be masked by another test
        refresh_token=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
        tokens_before=len(emulator.issued_tokens),
        monkeypatch=monkeypatch,
    )
    emulator.add_client(found.client_id, found.client_secret, found.refresh_token)
    emulator.script_accounts([])
    found.connect()
    return found


@dataclass
class Exposure:
    """Everything a run shows to the outside world, as text."""

    texts: dict[str, list[str]] = field(default_factory=dict)

    def add(self, where: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=repr)
        self.texts.setdefault(where, []).append(text)

    def add_error(self, error: BaseException) -> None:
        # The whole chain: messages of the causes too, as a task log's traceback shows them.
        self.add("exception", "".join(traceback.format_exception(error)))

    def assert_free_of(self, values: list[str]) -> None:
        assert values
        for where, texts in self.texts.items():
            for text in texts:
                for value in values:
                    assert value not in text, f"a secret leaked into the {where}: {text[:300]!r}"


def run_exposed(sensor: ZohoCRMBulkWriteJobSensor, exposure: Exposure) -> Any:
    """Run a sensor like tests.helpers.run_sensor, recording every serialized form, event and repr."""
    exposure.add("repr", repr(sensor.hook))
    try:
        try:
            result = sensor.execute(context={})  # type: ignore[arg-type]
        except TaskDeferred as deferred:
            trigger = deferred.trigger
            assert isinstance(trigger, ZohoJobTrigger)
            exposure.add("serialize() output", trigger.serialize())
            exposure.add("repr", repr(trigger))
            rebuilt = rebuild(trigger)
            event = asyncio.run(first_event(rebuilt))
            exposure.add("trigger event", event)
            exposure.add("serialize() output", rebuilt.serialize())  # after it got its tokens
            exposure.add("repr", repr(rebuilt))
            result = sensor.execute_complete(context={}, event=event)  # type: ignore[arg-type]
    except Exception as error:
        exposure.add_error(error)
        raise
    exposure.add("XCom value", result)
    exposure.add("repr", repr(sensor.hook))
    return result


def make_sensor(job_id: str, deferrable: bool, **kwargs: Any) -> ZohoCRMBulkWriteJobSensor:
    options: dict[str, Any] = {"poke_interval": 0.02, "poll_interval": 0.02, "timeout": 20, **kwargs}
    return ZohoCRMBulkWriteJobSensor(
        task_id="wait", job_id=job_id, zoho_conn_id=CONN_ID, deferrable=deferrable, **options
    )


@dataclass(frozen=True)
class Scenario:
    script: tuple[Any, ...]
    raises: type[Exception] | None = None
    accounts: tuple[Fault, ...] = ()  # answers to the token refreshes after the first token
    gets_token: bool = True
    wrong_password: bool = False
    sensor_options: dict[str, Any] = field(default_factory=dict)
    timeout: float = 5


SCENARIOS: dict[str, Scenario] = {
    "success after a token refresh": Scenario(("IN PROGRESS", Fault("invalid_token"), "IN PROGRESS", "COMPLETED")),
    "success through resets and 5xx": Scenario(
        ("IN PROGRESS", Fault("reset"), Fault("reset"), Fault("server_error", status=502, html=True), "COMPLETED")
    ),
    "success after a slow answer": Scenario(("IN PROGRESS", Fault("slow", delay=1.0), "COMPLETED"), timeout=0.3),
    "job failed": Scenario(("IN PROGRESS", "FAILED"), raises=AirflowFailException),
    "permanent Zoho error": Scenario(
        ("IN PROGRESS", Fault("error", code="OAUTH_SCOPE_MISMATCH")), raises=AirflowFailException
    ),
    "token rejected twice": Scenario(
        ("IN PROGRESS", Fault("invalid_token"), Fault("invalid_token")), raises=AirflowFailException
    ),
    "refresh token revoked mid-job": Scenario(
        ("IN PROGRESS", Fault("invalid_token"), "COMPLETED"),
        raises=AirflowFailException,
        accounts=(Fault("invalid_code"),),
    ),
    "timed out while throttled": Scenario(
        ("IN PROGRESS", Fault("rate_limited", retry_after=0.05)),
        raises=AirflowSensorTimeout,
        sensor_options={"timeout": 0.4},
    ),
    "wrong client secret": Scenario(("COMPLETED",), raises=AirflowFailException, gets_token=False, wrong_password=True),
    # A token endpoint (or a proxy before it) that answers an HTML 500 holding the form it was sent.
    "token refresh echoes the form": Scenario(
        ("IN PROGRESS", Fault("invalid_token"), "IN PROGRESS", "COMPLETED"), accounts=(Fault("echo"),)
    ),
    # An API that returns the request headers: in an error message, then in the final answer (and so XCom).
    "status answers echo the request headers": Scenario(
        ("IN PROGRESS", Fault("echo", status=502), Fault("echo", value="COMPLETED"))
    ),
    "a failed job's answer echoes the request headers": Scenario(
        ("IN PROGRESS", Fault("echo", value="FAILED")), raises=AirflowFailException
    ),
}


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
@pytest.mark.parametrize("scenario", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_no_secret_in_log_errors_xcom_serialized_form_or_repr(
    creds: Credentials,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    scenario: Scenario,
    deferrable: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_password = f"secret-{secrets.token_hex(16)}"
    creds.connect(password=wrong_password if scenario.wrong_password else None, timeout=scenario.timeout)
    job_id = str(10**11 + secrets.randbelow(10**11))
    creds.emulator.add_job("crm_bulk_write", job_id, list(scenario.script))
    sensor = make_sensor(job_id, deferrable, **scenario.sensor_options)
    if scenario.accounts:
        sensor.hook.get_access_token()
        creds.emulator.script_accounts(scenario.accounts)
    exposure = Exposure()
    if scenario.raises is None:
        assert run_exposed(sensor, exposure)["state"] == "COMPLETED"
    else:
        with pytest.raises(scenario.raises):
            run_exposed(sensor, exposure)
    exposure.add("repr", repr(sensor.hook))
    exposure.add("repr", repr(ZohoAsyncHook(CONN_ID)))
    out, err = capfd.readouterr()
    log = out + err + caplog.text
    exposure.add("task log", log)
    # The capture is meaningful: it holds the lines the hooks and sensors wrote.
    assert job_id in log or scenario.wrong_password
    if scenario.gets_token:
        assert TOKEN_LINE in log
        assert creds.issued
    exposure.assert_free_of([*creds.all_secrets(), wrong_password])


async def test_trigger_serialized_form_events_and_repr_hold_no_secret(
    creds: Credentials, capfd: pytest.CaptureFixture[str]
) -> None:
    """The trigger alone, through a refresh, a revoked refresh token and the triggerer's restart."""
    creds.emulator.add_job("crm_bulk_write", "31", ["IN PROGRESS", Fault("invalid_token"), "COMPLETED"])
    creds.emulator.add_job("crm_bulk_write", "32", ["IN PROGRESS", Fault("invalid_token"), "COMPLETED"])
    exposure = Exposure()
    for job_id, expected in (("31", "success"), ("32", "error")):
        trigger = ZohoJobTrigger(
            kind="crm_bulk_write",
            coordinates={"job_id": job_id},
            end_time=1e10,
            zoho_conn_id=CONN_ID,
            poll_interval=0.02,
        )
        if expected == "error":
            creds.emulator.script_accounts([Fault("invalid_code")])
        event = await first_event(rebuild(trigger))
        assert event["status"] == expected
        exposure.add("trigger event", event)
        exposure.add("serialize() output", trigger.serialize())
        exposure.add("repr", repr(trigger))
    assert len(creds.issued) == 2  # the first token, then the refresh for job 31; job 32's was refused
    log = capfd.readouterr().out
    assert TOKEN_LINE in log
    exposure.add("task log", log)
    exposure.assert_free_of(creds.all_secrets())


def test_errors_of_the_connection_test_button_hold_no_secret(creds: Credentials) -> None:
    wrong_password = f"secret-{secrets.token_hex(16)}"
    creds.connect(password=wrong_password)
    ok, message = ZohoHook(CONN_ID).test_connection()
    assert not ok
    assert "invalid_client" in message
    with pytest.raises(ZohoFatalError) as refused:
        ZohoHook(CONN_ID).get_access_token()
    exposure = Exposure()
    exposure.add("Test button message", message)
    exposure.add_error(refused.value)
    exposure.assert_free_of([creds.client_secret, creds.refresh_token, wrong_password])


def test_the_log_capture_is_raw(creds: Credentials, capfd: pytest.CaptureFixture[str]) -> None:
    """Outside a task runner nothing redacts stdout: a secret logged would show, so its absence means something."""
    canary = f"canary-{secrets.token_hex(8)}"
    mask_secret(canary)
    ZohoHook(CONN_ID).log.info("logging %s on purpose", canary)
    assert canary in capfd.readouterr().out
    assert redact(canary) != canary


def test_sync_hook_registers_every_secret_with_the_masker(creds: Credentials) -> None:
    assert redact(creds.client_secret) == creds.client_secret  # nothing has read them yet
    assert redact(creds.refresh_token) == creds.refresh_token
    hook = ZohoHook(CONN_ID)
    token = hook.get_access_token()
    line = f"id {creds.client_id} secret {creds.client_secret} refresh {creds.refresh_token} access {token.value}"
    redacted = redact(line)
    for value in (creds.client_secret, creds.refresh_token, token.value):
        assert value not in redacted
    assert creds.client_id in redacted  # the masker redacts secrets, not everything


def test_async_hook_registers_every_secret_with_the_masker(creds: Credentials) -> None:
    assert redact(creds.client_secret) == creds.client_secret

    async def read() -> str:
        try:
            return (await ZohoAsyncHook(CONN_ID).get_access_token()).value
        finally:
            await close_shared_session()

    token = asyncio.run(read())
    for value in (creds.client_secret, creds.refresh_token, token):
        assert redact(f"value {value}") == "value ***"


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])
def test_every_token_issued_mid_job_is_masked(creds: Credentials, deferrable: bool) -> None:
    script = ["IN PROGRESS", Fault("invalid_token"), "IN PROGRESS", Fault("invalid_token"), "COMPLETED"]
    creds.emulator.add_job("crm_bulk_write", "41", script)
    run_exposed(make_sensor("41", deferrable), Exposure())
    assert len(creds.issued) == 3
    for token in creds.issued:
        assert redact(f"Bearer {token}") == "Bearer ***"
