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

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
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
    "TriggerEvent",
    "conf",
    "get_async_connection",
    "get_async_extra_dejson",
    "mask_secret",
]
