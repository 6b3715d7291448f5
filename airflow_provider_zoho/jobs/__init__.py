"""Zoho bulk jobs as data: their kinds, what a status answer says, and the checks of a user's coordinates.

What a kind is lives in ``kind``, the built-in kinds in ``kinds``, the reading of a status answer and the
trigger's event in ``status``, the checks in ``checks``; this package exports them all.

A job kind of your own is a ``JobKind(...)`` built from the names exported here.
"""

from __future__ import annotations

from airflow_provider_zoho.jobs.checks import (
    MAX_JOB_ID_DIGITS,
    check_positive_seconds,
    coordinate_problems,
    is_template,
    job_id_problem,
)
from airflow_provider_zoho.jobs.kind import JobKind, normalize_state, states, values_at
from airflow_provider_zoho.jobs.kinds import (
    ANALYTICS_EXPORT,
    ANALYTICS_IMPORT,
    BIGIN_BULK_READ,
    BIGIN_BULK_WRITE,
    CREATOR_BULK_INSERT,
    CREATOR_BULK_READ,
    CRM_BULK_READ,
    CRM_BULK_WRITE,
    JOB_KINDS,
    get_job_kind,
    importable_elsewhere,
)
from airflow_provider_zoho.jobs.status import (
    EventStatus,
    JobEvent,
    JobStatus,
    Phase,
    ProgressLog,
    checked_event,
    error_event,
    finished_event,
    read_job_status,
    timeout_event,
)

__all__ = [
    "ANALYTICS_EXPORT",
    "ANALYTICS_IMPORT",
    "BIGIN_BULK_READ",
    "BIGIN_BULK_WRITE",
    "CREATOR_BULK_INSERT",
    "CREATOR_BULK_READ",
    "CRM_BULK_READ",
    "CRM_BULK_WRITE",
    "JOB_KINDS",
    "MAX_JOB_ID_DIGITS",
    "EventStatus",
    "JobEvent",
    "JobKind",
    "JobStatus",
    "Phase",
    "ProgressLog",
    "check_positive_seconds",
    "checked_event",
    "coordinate_problems",
    "error_event",
    "finished_event",
    "get_job_kind",
    "importable_elsewhere",
    "is_template",
    "job_id_problem",
    "normalize_state",
    "read_job_status",
    "states",
    "timeout_event",
    "values_at",
]
