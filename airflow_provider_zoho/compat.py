"""The one place that knows which Airflow this runs on.

Everything Airflow-facing is imported through ``apache-airflow-providers-common-compat``'s ``sdk`` shim,
as current Apache providers do, so one code base runs on Airflow 2.11 and 3.x.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.connection import get_async_connection, get_async_extra_dejson
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowNotFoundException,
    AirflowSensorTimeout,
    AirflowSkipException,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    Connection,
    Context,
    ObjectStoragePath,
    PokeReturnValue,
    ResumableJobMixin,
    XCom,
    conf,
    mask_secret,
)
from airflow.providers.common.compat.version_compat import AIRFLOW_V_3_0_PLUS
from airflow.triggers.base import BaseTrigger, TriggerEvent

# A timer in the triggerer, for waits that are not a job's status (Creator's "result still being generated").
try:
    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
except ImportError:  # Airflow 2.11 without the standard provider keeps it in core
    from airflow.triggers.temporal import TimeDeltaTrigger  # type: ignore[no-redef]

# Events that let a trigger end its task without resuming it on a worker (``end_from_trigger``), added in
# Airflow 2.10. Detected rather than version-compared, so a build that lacks them fails the sensor's
# parse-time check instead of the triggerer.
try:
    from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent
except ImportError:  # pragma: no cover - not reachable with the supported Airflow versions
    TaskFailedEvent = TaskSkippedEvent = TaskSuccessEvent = None  # type: ignore[assignment,misc]
SUPPORTS_END_FROM_TRIGGER = TaskSuccessEvent is not None


async def task_success_event(task_instance: Any, xcoms: Mapping[str, Any] | None) -> TriggerEvent:
    """Build a ``TaskSuccessEvent`` whose XComs reach downstream tasks as the values a worker would have pushed.

    Airflow 3 (seen on 3.3.2) stores the ``xcoms`` of a ``TaskSuccessEvent`` JSON-encoded twice, so a
    downstream task pulls a JSON *string* instead of the dict. Where the triggerer forwards XCom writes
    from triggers (``XCom.aset``, Airflow 3.1+), the trigger pushes them itself, exactly as a worker does,
    and the event carries none. Airflow 2 stores the event's XComs correctly; so does a trigger run
    without a task instance (outside a triggerer), which can only hand them to the event.

    :param task_instance: the trigger's ``task_instance``, or None outside a triggerer.
    :param xcoms: the XComs the task's end pushes (key to value), or None.
    :return: the event that ends the task from the trigger.
    """
    if xcoms and AIRFLOW_V_3_0_PLUS and task_instance is not None:
        from airflow.sdk.execution_time.xcom import XCom

        if hasattr(XCom, "aset"):
            for key, value in xcoms.items():
                await XCom.aset(
                    key,
                    value,
                    dag_id=task_instance.dag_id,
                    task_id=task_instance.task_id,
                    run_id=task_instance.run_id,
                    map_index=task_instance.map_index,
                )
            return TaskSuccessEvent()
    return TaskSuccessEvent(xcoms=dict(xcoms) if xcoms else None)


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "SUPPORTS_END_FROM_TRIGGER",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "ObjectStoragePath",
    "PokeReturnValue",
    "ResumableJobMixin",
    "TaskFailedEvent",
    "TaskSkippedEvent",
    "TaskSuccessEvent",
    "TimeDeltaTrigger",
    "TriggerEvent",
    "XCom",
    "conf",
    "get_async_connection",
    "get_async_extra_dejson",
    "mask_secret",
    "task_success_event",
]
