"""The one place that knows which Airflow this runs on.

Everything Airflow-facing is imported through ``apache-airflow-providers-common-compat``'s ``sdk`` shim,
as current Apache providers do, so one code base runs on Airflow 2.11 and 3.x.
"""

from __future__ import annotations

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseHook,
    BaseSensorOperator,
    Connection,
    Context,
    PokeReturnValue,
    conf,
    mask_secret,
)
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
from airflow.triggers.base import BaseTrigger, TriggerEvent

# Events that let a trigger end its task without resuming it on a worker (``end_from_trigger``), added in
# Airflow 2.10. Detected rather than version-compared, so a build that lacks them fails the sensor's
# parse-time check instead of the triggerer.
try:
    from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent
except ImportError:  # pragma: no cover - not reachable with the supported Airflow versions
    TaskFailedEvent = TaskSkippedEvent = TaskSuccessEvent = None  # type: ignore[assignment,misc]
SUPPORTS_END_FROM_TRIGGER = TaskSuccessEvent is not None

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "SUPPORTS_END_FROM_TRIGGER",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "PokeReturnValue",
    "TaskFailedEvent",
    "TaskSkippedEvent",
    "TaskSuccessEvent",
    "TriggerEvent",
    "conf",
    "get_async_connection",
    "get_async_extra_dejson",
    "mask_secret",
]
