"""Each Zoho bulk job kind described as data, and the pure functions that read a status answer.

In the spirit of botocore's declarative waiters: a ``JobKind`` says where to GET, which fields hold the
state, which states mean success, failure or pending, and what the summary counts are. One sensor base
class and one trigger serve every kind; adding a kind is one ``JobKind(...)`` entry, in this module or in
any module a triggerer can import.
"""

from __future__ import annotations

import functools
import math
import pkgutil
import re
import string
import sys
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
    return _normalized(str(state))


_SEPARATORS = re.compile(r"[\s_\-]+")


# A job answers the same few spellings poll after poll: remembered, the regex runs once per spelling, not
# several times per poll. Bounded, since the text comes from the answer. With the parsed paths below, a
# status read went from 13 to 8.5 us (the four kinds' pending answers, averaged).
@functools.lru_cache(maxsize=256)
def _normalized(text: str) -> str:
    return _SEPARATORS.sub("", text).upper()


def states(*names: str) -> frozenset[str]:
    """A kind's set of states as Zoho spells them, normalised once for comparison."""
    return frozenset(normalize_state(name) for name in names)


def values_at(document: Any, path: str) -> list[Any]:
    """Every value at a dotted path, where ``name[]`` steps into each element of a list.

    ``values_at(body, "resource[].file.status")`` gives one status per resource. Missing keys and values
    of the wrong shape yield nothing rather than raising: a partial answer is treated as "state unknown".
    """
    current: list[Any] = [document]
    for key, is_list in _steps(path):
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


@functools.cache  # the paths are a kind's own, a handful: parsed once, not on every poll
def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    """A dotted path as (key, steps into a list) pairs."""
    return tuple((step[:-2], True) if step.endswith("[]") else (step, False) for step in path.split("."))


@dataclass(frozen=True)
class JobKind:
    """Where a kind's status lives and how to read it.

    ``path`` is formatted with the path coordinates (URL-quoted); ``headers`` maps a header to the optional
    coordinate that supplies it. ``id_coordinate`` is the path coordinate holding the job's own id.
    ``state_fields[0]`` is the job's own state; any later field (such as a CRM resource's status) can only
    turn the job into a failure. ``counts`` maps a summary name to the field(s) holding it, summed across
    list elements. A kind that contradicts itself is refused when it is created, not when a job is polled.
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
    id_coordinate: str = "job_id"
    # Which counts say how many records landed, and which one is the total: the rest did not land (skipped,
    # failed or unprocessed), which is what ``max_failed_records`` counts. Unset: the kind cannot say.
    landed_counts: tuple[str, ...] = ()
    total_count: str | None = None
    # Where a count is read when its ``counts`` path holds nothing: Zoho's sources disagree on where some
    # fields live (Creator's ``record_details`` inside ``data`` in the docs, beside it in the OpenAPI file).
    count_fallbacks: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if problems := _kind_problems(self):
            raise ValueError(f"JobKind {self.name!r}: " + "; ".join(problems))

    @property
    def optional_coordinates(self) -> tuple[str, ...]:
        return tuple(self.headers.values())

    @property
    def header_of(self) -> dict[str, str]:
        """The header each optional coordinate is sent in."""
        return {name: header for header, name in self.headers.items()}

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        """Every coordinate a sensor of this kind takes, in the order it takes them."""
        return (*self.path_coordinates, *self.optional_coordinates)

    def url_path(self, coordinates: Mapping[str, str | None]) -> str:
        """The status path, each coordinate quoted into one segment.

        The hooks are public and take coordinates unchecked: whatever else a caller skipped, a '.' or '..'
        segment (which quoting leaves as is, and which would move the token's request to another path) is
        refused here.
        """
        segments = {name: quote(str(coordinates[name]), safe="") for name in self.path_coordinates}
        if dots := [name for name, segment in segments.items() if segment in (".", "..")]:
            raise ValueError(f"{self.label}: {', '.join(dots)} must be a name, not '.' or '..'")
        return self.path.format(**segments)

    def request_headers(self, coordinates: Mapping[str, str | None]) -> dict[str, str]:
        return {header: str(value) for header, name in self.headers.items() if (value := coordinates.get(name))}

    def not_landed(self, counts: Mapping[str, int]) -> int | None:
        """Records of a finished job that did not land, or ``None`` when its answer lacks the counts."""
        if self.total_count is None or self.total_count not in counts:
            return None
        return max(0, counts[self.total_count] - sum(counts.get(name, 0) for name in self.landed_counts))

    def job_id_of(self, coordinates: Mapping[str, object]) -> str:
        """The job's own id among its coordinates, as Zoho knows it (for logs, events and the summary)."""
        value = coordinates.get(self.id_coordinate)
        if value is None:
            raise ValueError(f"{self.label}: no {self.id_coordinate} among the coordinates {sorted(coordinates)}")
        return str(value)


def _kind_problems(kind: JobKind) -> list[str]:
    """What makes a kind unusable, found when it is created rather than at the first poll of a job."""
    problems: list[str] = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind.name):
        problems.append("name must be a lowercase identifier such as 'crm_bulk_read'")
    placeholders = [name for _, name, _, _ in string.Formatter().parse(kind.path) if name is not None]
    problems += [
        f"path uses {{{name}}}, which path_coordinates does not list"
        for name in placeholders
        if name not in kind.path_coordinates
    ]
    problems += [
        f"path_coordinates lists {name}, which path does not use"
        for name in kind.path_coordinates
        if name not in placeholders
    ]
    if kind.id_coordinate not in kind.path_coordinates:
        problems.append(f"id_coordinate {kind.id_coordinate!r} is not one of path_coordinates {kind.path_coordinates}")
    problems += [
        f"headers take {name}, which is already a path coordinate"
        for name in kind.optional_coordinates
        if name in kind.path_coordinates
    ]
    problems += [
        f"numeric_coordinates lists {name}, which is not a coordinate (it defaults to ('job_id',): set it)"
        for name in kind.numeric_coordinates
        if name not in kind.coordinate_names
    ]
    problems += [
        f"choices lists {name}, which is not a coordinate" for name in kind.choices if name not in kind.coordinate_names
    ]
    if not kind.state_fields:
        problems.append("state_fields must name at least the job's own state")
    problems += [
        f"landed_counts names {name}, which counts does not define"
        for name in (*kind.landed_counts, *filter(None, [kind.total_count]))
        if name not in kind.counts
    ]
    problems += [
        f"count_fallbacks names {name}, which counts does not define"
        for name in kind.count_fallbacks
        if name not in kind.counts
    ]
    return problems


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
    succeeded=states("1004"),
    failed=states("1003", "1005"),
    pending=states("1001", "1002"),
    counts={
        "total_rows": "data.jobInfo.importSummary.totalRowCount",
        "success_rows": "data.jobInfo.importSummary.successRowCount",
        "warnings": "data.jobInfo.importSummary.warnings",
    },
    response_field="data",
    landed_counts=("success_rows",),
    total_count="total_rows",
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
    succeeded=states("COMPLETED"),
    failed=states("FAILED"),
    pending=states("ADDED", "IN PROGRESS"),
    counts={
        "added": "resource[].file.added_count",
        "updated": "resource[].file.updated_count",
        "skipped": "resource[].file.skipped_count",
        "total": "resource[].file.total_count",
    },
    landed_counts=("added", "updated"),
    total_count="total",
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
    succeeded=states("Completed"),
    failed=states("Failed", "Aborted", "User Aborted", "System Aborted", "Expired"),
    pending=states("Ready-to-upload", "In-progress"),
    counts={
        "total": "data.record_details.total_records",
        "success": "data.record_details.success_records",
        "failed": "data.record_details.failed_records",
        "unprocessed": "data.record_details.unprocessed_records",
    },
    landed_counts=("success",),
    total_count="total",
    # Zoho's Creator OpenAPI file puts record_details beside data (ZOHO_API.md, "Job status lifecycles").
    count_fallbacks={
        "total": "record_details.total_records",
        "success": "record_details.success_records",
        "failed": "record_details.failed_records",
        "unprocessed": "record_details.unprocessed_records",
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


def get_job_kind(reference: str) -> JobKind:
    """The kind a trigger names: a built-in kind's name, or ``"module:attribute"`` for any importable kind.

    Trigger rows written before kinds could be imported hold the bare built-in names; they still work.
    """
    if ":" not in reference:
        try:
            return JOB_KINDS[reference]
        except KeyError:
            raise ValueError(
                f"Unknown Zoho job kind {reference!r}: use one of {', '.join(JOB_KINDS)}, "
                "or 'module:attribute' naming a JobKind of your own."
            ) from None
    try:
        found = pkgutil.resolve_name(reference)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"Zoho job kind: cannot import {reference!r} ({type(error).__name__}: {error}).") from None
    if not isinstance(found, JobKind):
        what = "a class" if isinstance(found, type) else f"a {type(found).__name__}"
        raise ValueError(f"Zoho job kind {reference!r} names {what}, not a JobKind.")
    return found


@functools.cache  # asked once per module, not for every sensor of every DAG parse
def importable_elsewhere(module_name: str) -> bool:
    """Whether another process, such as a triggerer, could import the module by this name.

    Asks the import system's finders rather than ``sys.modules``: Airflow loads a DAG file under a made-up
    module name that is in this process's ``sys.modules`` and nowhere else.
    """
    parent = sys.modules.get(module_name.rpartition(".")[0]) if "." in module_name else None
    path = getattr(parent, "__path__", None)
    return any(
        finder.find_spec(module_name, path) is not None
        for finder in sys.meta_path
        if callable(getattr(finder, "find_spec", None))
    )


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
        for where in (path, kind.count_fallbacks.get(name)):
            numbers = (
                [number for value in values_at(body, where) if (number := _count(value)) is not None] if where else []
            )
            if numbers:
                counts[name] = sum(numbers)
                break
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


# A Zoho link name (Creator's owner, application and form names): no '/', no '.' or '..' path segment, nothing
# to quote. Zoho's own are letters, digits and '_' (app names also '-'); '.' is allowed inside for owner names.
_LINK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]+")


def coordinate_problems(kind: JobKind, coordinates: Mapping[str, Any], *, rendered: bool = False) -> list[str]:
    """What is wrong with a sensor's job coordinates, as messages that say how to fix it.

    Values that are not known yet (Jinja templates, XComArgs) are skipped at parse time; once ``rendered``,
    a value that is still a template or is not text or a whole number is a problem, not something to send.
    """
    problems: list[str] = []
    for name in kind.coordinate_names:
        given = coordinates.get(name)
        value = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
        if value is None and name in kind.optional_coordinates:
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"{name} is required: pass the {kind.label}'s {name.replace('_', ' ')}")
        elif not isinstance(value, str) or is_template(value):
            if rendered:
                problems.append(_unrendered(name, value))
        elif problem := _value_problem(kind, name, value):
            problems.append(problem)
    return problems


def _unrendered(name: str, value: object) -> str:
    if isinstance(value, str):
        return f"{name} is still a template after rendering ({value!r}): it must render to the value itself"
    return f"{name} must render to text or a whole number, got {type(value).__name__} {value!r}"


def _value_problem(kind: JobKind, name: str, given: str) -> str | None:
    """The problem with one known coordinate value, if any; surrounding spaces are not sent, so not checked."""
    value = given.strip()
    # Even a trailing newline is refused in a header value: it says the value came from somewhere unexpected.
    if name in kind.optional_coordinates and not _HEADER_VALUE.fullmatch(given.strip(" ")):
        return (
            f"{name} is sent in the {kind.header_of[name]} header: it must be printable ASCII, without control "
            f"characters such as CR or LF, got {given!r}"
        )
    # Zoho ids are ASCII digits; str.isdigit() would also let superscripts and other scripts' digits through.
    if name in kind.numeric_coordinates:
        if not re.fullmatch(r"[0-9]+", value):
            return f"{name} must be Zoho's numeric id (digits only), got {value!r}"
    elif name in kind.path_coordinates and not _LINK_NAME.fullmatch(value):
        return (
            f"{name} must be a plain Zoho link name (ASCII letters, digits, '_', '-' and '.', not starting with "
            f"'.' or '-'), got {value!r}"
        )
    if name in kind.choices and value not in kind.choices[name]:
        return f"{name} must be one of {', '.join(kind.choices[name])}, got {value!r}"
    return None


# Zoho's job ids are ASCII digits (17 to 19 of them in every answer seen); 40 leaves room and bounds a log line.
MAX_JOB_ID_DIGITS = 40
_JOB_ID = re.compile(rf"[0-9]{{1,{MAX_JOB_ID_DIGITS}}}")


def job_id_problem(value: object) -> str | None:
    """Why ``value`` cannot be a Zoho job id, or ``None`` when it can (digits, or a whole number).

    An id goes into URL paths, log lines and the task's state: anything but digits could move a request to
    another path (``/../``), forge a log line (CR/LF) or, once used in a file name, write outside a folder.
    The value is shown with ``repr`` and cut short, so the message itself forges nothing.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_JOB_ID_DIGITS:
        return None
    if isinstance(value, str) and _JOB_ID.fullmatch(value):
        return None
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return f"{shown} is not a Zoho job id (Zoho's ids are 1 to {MAX_JOB_ID_DIGITS} ASCII digits)"


def check_positive_seconds(what: str, value: object) -> float:
    """A duration given in seconds must be a finite positive number: 0, NaN or a string would busy-loop."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)
