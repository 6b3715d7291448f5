"""Running sensors and triggers the way Airflow does, without a scheduler (the e2e tests do that)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.providers.common.compat.module_loading import import_string
from airflow.providers.common.compat.sdk import TaskDeferred
from airflow.serialization.serialized_objects import BaseSerialization

from airflow_provider_zoho.compat import AirflowException, BaseOperator, BaseTrigger
from airflow_provider_zoho.hooks.zoho_async import close_shared_session
from airflow_provider_zoho.sensors import ZohoJobSensor
from airflow_provider_zoho.testing.kinds import KIND_FACTS

# Views of the per-kind test facts (airflow_provider_zoho/testing/kinds.py), in the shapes tests use.
KINDS = sorted(KIND_FACTS)
SENSORS: dict[str, type[ZohoJobSensor]] = {kind: import_string(facts.sensor) for kind, facts in KIND_FACTS.items()}
JOB_COORDINATES: dict[str, dict[str, str]] = {kind: dict(facts.coordinates) for kind, facts in KIND_FACTS.items()}
FINAL_STATES: dict[str, tuple[str, str]] = {  # kind -> (pending state, succeeded state)
    kind: (facts.pending, facts.succeeded) for kind, facts in KIND_FACTS.items()
}
MODES = pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferrable"])

# The operator tests' jobs: a Creator form, and an Analytics workspace and view in the organisation the
# default connection on the forging proxy names (tests/operators/conftest.py).
OWNER, APP, FORM = "jason18", "zylker-store", "Employee_Details"
WORKSPACE, VIEW, ORG = "35130000001055707", "35130000001234567", "55522777"


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """What the triggerer does: store the serialized form (as JSON in the database), then rebuild it.

    Airflow stores trigger kwargs through ``BaseSerialization`` (datetimes, timedeltas), as JSON text.
    """
    classpath, kwargs = trigger.serialize()
    stored = BaseSerialization.deserialize(json.loads(json.dumps(BaseSerialization.serialize(kwargs))))
    return import_string(classpath)(**stored)  # type: ignore[no-any-return]


async def first_event(trigger: BaseTrigger, limit: float = 30.0) -> Any:
    try:
        async with asyncio.timeout(limit):
            async for event in trigger.run():
                # A Zoho trigger's payload is a dict; a timer's (Airflow's TimeDeltaTrigger) a datetime.
                return dict(event.payload) if isinstance(event.payload, dict) else event.payload
    finally:
        await close_shared_session()
    raise AssertionError("the trigger ended without an event")


def run_sensor(sensor: ZohoJobSensor) -> Any:
    """Execute a sensor; if it defers, run its trigger through a serialize/rebuild cycle and resume it."""
    try:
        return sensor.execute(context={})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(rebuild(deferred.trigger)))
        return getattr(sensor, deferred.method_name)(context={}, event=event)


# A missing constructor argument: Airflow 3 raises TypeError; Airflow 2's operator metaclass, AirflowException.
MISSING_ARGUMENT_ERRORS: tuple[type[Exception], ...] = (TypeError, AirflowException)


def wait_until(happened: Callable[[], object], seconds: float = 30) -> None:
    """Wait until ``happened()`` is true, at most ``seconds`` (a busy machine only makes the wait longer)."""
    deadline = time.monotonic() + seconds
    while not happened() and time.monotonic() < deadline:
        time.sleep(0.01)


class _Lines(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        # Whether ``airflow.task`` propagates to the root logger depends on which Airflow configured logging
        # first in the process, so a record may reach this handler through both loggers: count it once (the
        # records are kept so that no id is reused while the block runs).
        self.seen: dict[int, logging.LogRecord] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) not in self.seen:
            self.seen[id(record)] = record
            self.lines.append(record.getMessage())


@contextlib.contextmanager
def captured_log() -> Iterator[list[str]]:
    """The lines logged inside the block, on either Airflow: 3's structlog loggers (``capture_logs``) and
    2's stdlib ones (``airflow.task`` does not propagate to the root logger, so both get a handler)."""
    lines: list[str] = []
    handler = _Lines(lines)
    loggers = [logging.getLogger(), logging.getLogger("airflow.task")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        try:
            from structlog.testing import capture_logs
        except ImportError:  # Airflow 2.11
            yield lines
        else:
            with capture_logs() as entries:
                yield lines
            lines.extend(
                " ".join([str(entry.get("event")), *map(str, entry.get("positional_args", ()))]) for entry in entries
            )
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


# -- running operators the way Airflow does ---------------------------------------------------------------


class TaskInstance:
    """What the operator uses of a task instance: XCom pushes (recorded) and the mixin's stats tags."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []
        self.stats_tags: dict[str, str] = {}

    map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        """The last value this task pushed under ``key`` (the operator only reads its own)."""
        return next((value for pushed_key, value in reversed(self.pushed) if pushed_key == key), None)


class StateStore:
    """Airflow 3.3's ``task_state_store`` as the operator uses it: get and set of JSON values."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        if value is None:  # as Airflow's own accessor refuses it
            raise ValueError("Cannot set value as None")
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def context(store: StateStore | None = None) -> dict[str, Any]:
    return {"ti": TaskInstance(), "task_state_store": store if store is not None else StateStore()}


def run(operator: BaseOperator, ctx: dict[str, Any]) -> Any:
    """Execute; each deferral runs its trigger through a serialize/rebuild cycle and resumes, as Airflow does."""
    try:
        return operator.execute(ctx)  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        event = asyncio.run(first_event(rebuild(deferred.trigger)))
        resume = getattr(operator, deferred.method_name)
        while True:
            try:
                return resume(ctx, event=event, **(deferred.kwargs or {}))
            except TaskDeferred as again:
                deferred = again
                event = asyncio.run(first_event(rebuild(deferred.trigger)))
