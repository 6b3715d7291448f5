"""Each Zoho bulk job kind described as data, and the pure functions that read a status answer.

In the spirit of botocore's declarative waiters: a ``JobKind`` says where to GET, which fields hold the
state, which states mean success, failure or pending, and what the summary counts are. One sensor base
class and one trigger serve every kind; adding a kind is one ``JobKind(...)`` entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import quote

from airflow_provider_zoho.connection_config import CREATOR_ENVIRONMENTS
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.errors import Dialect


class ProgressLog(Protocol):
    """The part of a logger that both Airflow's structlog loggers and ``logging.Logger`` have."""

    def info(self, msg: str, /, *args: Any) -> Any: ...
    def warning(self, msg: str, /, *args: Any) -> Any: ...


class Phase(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def normalize_state(state: object) -> str:
    """Zoho spells one state many ways (``IN PROGRESS``, ``INPROGRESS``, ``In-progress``, ``IN_PROGRESS``)."""
    return re.sub(r"[\s_\-]+", "", str(state)).upper()


def _states(*names: str) -> frozenset[str]:
    return frozenset(normalize_state(name) for name in names)


def values_at(document: Any, path: str) -> list[Any]:
    """Every value at a dotted path, where ``name[]`` steps into each element of a list.

    ``values_at(body, "resource[].file.status")`` gives one status per resource. Missing keys and values
    of the wrong shape yield nothing rather than raising: a partial answer is treated as "state unknown".
    """
    current: list[Any] = [document]
    for step in path.split("."):
        is_list = step.endswith("[]")
        key = step[:-2] if is_list else step
        following: list[Any] = []
        for node in current:
            value = node.get(key) if isinstance(node, dict) else None
            if value is None:
                continue
            if is_list:
                following.extend(value if isinstance(value, list) else [])
            else:
                following.append(value)
        current = following
    return current


@dataclass(frozen=True)
class JobKind:
    """Where a kind's status lives and how to read it.

    ``path`` is formatted with the path coordinates (URL-quoted); ``headers`` maps a header to the optional
    coordinate that supplies it. ``state_fields[0]`` is the job's own state; any later field (such as a
    CRM resource's status) can only turn the job into a failure. ``counts`` maps a summary name to the
    field(s) holding it, summed across list elements.
    """

    name: str
    label: str
    service: Service
    dialect: Dialect
    path: str
    path_coordinates: tuple[str, ...]
    state_fields: tuple[str, ...]
    succeeded: frozenset[str]
    failed: frozenset[str]
    pending: frozenset[str]
    counts: Mapping[str, str]
    response_field: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    numeric_coordinates: tuple[str, ...] = ("job_id",)
    failure_code_field: str | None = None
    failure_message_field: str | None = None
    state_notes: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def optional_coordinates(self) -> tuple[str, ...]:
        return tuple(self.headers.values())

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        """Every coordinate a sensor of this kind takes, in the order it takes them."""
        return (*self.path_coordinates, *self.optional_coordinates)

    def url_path(self, coordinates: Mapping[str, str | None]) -> str:
        return self.path.format(**{name: quote(str(coordinates[name]), safe="") for name in self.path_coordinates})

    def request_headers(self, coordinates: Mapping[str, str | None]) -> dict[str, str]:
        return {header: str(value) for header, name in self.headers.items() if (value := coordinates.get(name))}


ANALYTICS_IMPORT = JobKind(
    name="analytics_import",
    label="Zoho Analytics import job",
    service=Service.ANALYTICS,
    dialect=Dialect.ANALYTICS,
    path="/restapi/v2/bulk/workspaces/{workspace_id}/importjobs/{job_id}",
    path_coordinates=("workspace_id", "job_id"),
    numeric_coordinates=("workspace_id", "job_id"),
    headers={"ZANALYTICS-ORGID": "org_id"},
    state_fields=("data.jobCode",),
    succeeded=_states("1004"),
    failed=_states("1003", "1005"),
    pending=_states("1001", "1002"),
    counts={
        "total_rows": "data.jobInfo.importSummary.totalRowCount",
        "success_rows": "data.jobInfo.importSummary.successRowCount",
        "warnings": "data.jobInfo.importSummary.warnings",
    },
    response_field="data",
    failure_code_field="data.jobInfo.errorCode",
    failure_message_field="data.jobInfo.errorMessage",
    state_notes={
        "1003": "the import hit an error",
        "1005": "job not found, or its summary expired (Zoho keeps it one hour after the job ends)",
    },
)

CRM_BULK_WRITE = JobKind(
    name="crm_bulk_write",
    label="Zoho CRM bulk write job",
    service=Service.API,
    dialect=Dialect.CRM,
    path="/crm/bulk/v8/write/{job_id}",
    path_coordinates=("job_id",),
    # Zoho marks failure per resource and per file, not always on the job itself.
    state_fields=("status", "resource[].status", "resource[].file.status"),
    succeeded=_states("COMPLETED"),
    failed=_states("FAILED"),
    pending=_states("ADDED", "IN PROGRESS"),
    counts={
        "added": "resource[].file.added_count",
        "updated": "resource[].file.updated_count",
        "skipped": "resource[].file.skipped_count",
        "total": "resource[].file.total_count",
    },
)

# Bigin's bulk write API is CRM's, served under another path.
BIGIN_BULK_WRITE = replace(
    CRM_BULK_WRITE, name="bigin_bulk_write", label="Zoho Bigin bulk write job", path="/bigin/bulk/v2/write/{job_id}"
)

CREATOR_BULK_INSERT = JobKind(
    name="creator_bulk_insert",
    label="Zoho Creator bulk insert job",
    service=Service.API,
    dialect=Dialect.CREATOR,
    path="/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/form/{form_link_name}/insert/{job_id}",
    path_coordinates=("account_owner_name", "app_link_name", "form_link_name", "job_id"),
    headers={"environment": "environment"},
    choices={"environment": CREATOR_ENVIRONMENTS},
    state_fields=("data.api_status",),
    succeeded=_states("Completed"),
    failed=_states("Failed", "Aborted", "User Aborted", "System Aborted", "Expired"),
    pending=_states("Ready-to-upload", "In-progress"),
    counts={
        "total": "data.record_details.total_records",
        "success": "data.record_details.success_records",
        "failed": "data.record_details.failed_records",
        "unprocessed": "data.record_details.unprocessed_records",
    },
    response_field="data",
    state_notes={
        "SYSTEMABORTED": "Zoho aborted the job: more than 5% of its batches failed",
        "EXPIRED": "the job was not started within 3 hours of its creation",
    },
)

JOB_KINDS: Mapping[str, JobKind] = {
    kind.name: kind for kind in (ANALYTICS_IMPORT, CRM_BULK_WRITE, BIGIN_BULK_WRITE, CREATOR_BULK_INSERT)
}


def get_job_kind(name: str) -> JobKind:
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise ValueError(f"Unknown Zoho job kind {name!r}: use one of {', '.join(JOB_KINDS)}.") from None


@dataclass(frozen=True)
class JobStatus:
    """What one status answer says about a job."""

    kind: JobKind
    job_id: str
    state: str | None
    phase: Phase
    counts: dict[str, int]
    response: Any
    recognized: bool
    failure_code: str | None = None
    failure_message: str | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-safe value the sensors return, and so push to XCom."""
        return {
            "job_id": self.job_id,
            "kind": self.kind.name,
            "state": self.state,
            "counts": self.counts,
            "response": self.response,
        }

    def log_progress(self, log: ProgressLog) -> None:
        """Log a still-running job; a state Zoho added since this was written is kept polling, but said."""
        if self.recognized:
            log.info("%s", self.describe())
        else:
            log.warning(
                "%s %s: unrecognised state %r, treating it as still running", self.kind.label, self.job_id, self.state
            )

    def describe(self) -> str:
        """One line for the task log that keeps Zoho's own code and message."""
        parts = [f"{self.kind.label} {self.job_id} is {self.state or 'in an unknown state'}"]
        if self.failure_code or self.failure_message:
            parts.append(f"Zoho error {self.failure_code or '?'}: {self.failure_message or 'no message'}")
        elif note := self.kind.state_notes.get(normalize_state(self.state)):
            parts.append(note)
        if self.counts:
            parts.append("counts " + ", ".join(f"{name}={value}" for name, value in self.counts.items()))
        return "; ".join(parts)


def _first(document: Any, path: str | None) -> Any:
    found = values_at(document, path) if path else []
    return found[0] if found else None


def _count(value: Any) -> int | None:
    """A count as Zoho writes it (a number or digits), or ``None``; one no job has (5,000 digits) is left
    out rather than raising from ``int()`` or ``str()``, which refuse numbers past 4,300 digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 10**18 else None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value):
        return int(value)
    return None


def _counts(kind: JobKind, body: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, path in kind.counts.items():
        numbers = [number for value in values_at(body, path) if (number := _count(value)) is not None]
        if numbers:
            counts[name] = sum(numbers)
    return counts


def read_job_status(kind: JobKind, job_id: str, body: Any) -> JobStatus:
    """Classify a decoded status answer; never raises on an odd shape (an unknown state stays pending)."""
    job_state = _first(body, kind.state_fields[0])
    all_states = [value for path in kind.state_fields for value in values_at(body, path)]
    failing = next((value for value in all_states if normalize_state(value) in kind.failed), None)
    normalized = normalize_state(job_state) if job_state is not None else None
    state = None if job_state is None else str(job_state)
    if failing is not None:
        # A CRM job can report COMPLETED while a resource FAILED: the failure is what the user must see.
        phase, state = Phase.FAILED, str(failing)
    elif normalized in kind.succeeded:
        phase = Phase.SUCCEEDED
    else:
        phase = Phase.PENDING
    failure_code = _first(body, kind.failure_code_field) if phase is Phase.FAILED else None
    failure_message = _first(body, kind.failure_message_field) if phase is Phase.FAILED else None
    return JobStatus(
        kind=kind,
        job_id=job_id,
        state=state,
        phase=phase,
        counts=_counts(kind, body),
        response=_first(body, kind.response_field) if kind.response_field else body,
        recognized=phase is not Phase.PENDING or normalized in kind.pending,
        failure_code=None if failure_code is None else str(failure_code),
        failure_message=None if failure_message is None else str(failure_message),
    )


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def coordinate_problems(kind: JobKind, coordinates: Mapping[str, Any]) -> list[str]:
    """What is wrong with a sensor's job coordinates, as messages that say how to fix it.

    Values that are not known yet (Jinja templates, XComArgs) are skipped here and checked again after
    rendering, when the sensor runs.
    """
    problems: list[str] = []
    for name in kind.coordinate_names:
        given = coordinates.get(name)
        value = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
        if value is None and name in kind.optional_coordinates:
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"{name} is required: pass the {kind.label}'s {name.replace('_', ' ')}")
            continue
        if not isinstance(value, str) or is_template(value):
            continue
        # Zoho ids are ASCII digits; str.isdigit() would also let superscripts and other scripts' digits through.
        if name in kind.numeric_coordinates and not re.fullmatch(r"[0-9]+", value.strip()):
            problems.append(f"{name} must be Zoho's numeric id (digits only), got {value!r}")
        elif "/" in value:
            problems.append(f"{name} must be a single link name without '/', got {value!r}")
        elif name in kind.choices and value not in kind.choices[name]:
            problems.append(f"{name} must be one of {', '.join(kind.choices[name])}, got {value!r}")
    return problems


def check_positive_seconds(what: str, value: object) -> float:
    """A duration given in seconds must be a finite positive number: 0, NaN or a string would busy-loop."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)
