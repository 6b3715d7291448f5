"""What one status answer says about a job, read by pure functions, and the event a trigger yields for it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypedDict

from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.jobs.kind import JobKind, normalize_state, values_at


class ProgressLog(Protocol):
    """The part of a logger that both Airflow's structlog loggers and ``logging.Logger`` have."""

    def info(self, msg: str, /, *args: Any) -> Any:
        """Log ``msg % args`` at the info level."""

    def warning(self, msg: str, /, *args: Any) -> Any:
        """Log ``msg % args`` at the warning level."""


class Phase(StrEnum):
    """Where a job stands, whatever its kind calls its states; a state the kind does not know is pending."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


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
    result_link: str | None = None

    def summary(self) -> dict[str, Any]:
        """Return the JSON-safe value the sensors return, and so push to XCom.

        :return: ``job_id``, ``kind``, ``state``, ``counts`` and ``response`` (the kind's part of Zoho's answer);
            for a kind that reads data out of Zoho, ``download_url`` too (None until the job completed).
        """
        summary = {
            "job_id": self.job_id,
            "kind": self.kind.name,
            "state": self.state,
            "counts": self.counts,
            "response": self.response,
        }
        if self.kind.result_link_field is not None:
            summary["download_url"] = self.result_link
        return summary

    def log_progress(self, log: ProgressLog) -> None:
        """Log a still-running job; a state Zoho added since this was written is kept polling, but said.

        :param log: the task's or the trigger's logger.
        """
        if self.recognized:
            log.info("%s", self.describe())
        else:
            log.warning(
                "%s %s: unrecognised state %r, treating it as still running", self.kind.label, self.job_id, self.state
            )

    def describe(self) -> str:
        """Return one line for the task log that keeps Zoho's own code and message.

        :return: the kind, the id and the state, then Zoho's error or the state's note, then the counts.
        """
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
    """Return a count as Zoho writes it (a number or digits), or ``None``.

    One no job has (5,000 digits) is left out rather than raising from ``int()`` or ``str()``, which refuse
    numbers past 4,300 digits.
    """
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
    """Classify a decoded status answer; never raises on an odd shape (an unknown state stays pending).

    :param kind: the job's kind, which says where the state and the counts are.
    :param job_id: the job's id, for the status.
    :param body: the decoded answer.
    :return: what the answer says about the job.
    """
    job_state = next(
        (found for path in (kind.state_fields[0], *kind.state_fallbacks) if (found := _first(body, path)) is not None),
        None,
    )
    later = (value for path in kind.state_fields[1:] for value in values_at(body, path))
    all_states = [*([] if job_state is None else [job_state]), *later]
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
        result_link=link if isinstance(link := _first(body, kind.result_link_field), str) else None,
    )


# -- the event a trigger yields: the job's summary with what the waiting task must do about it -----------------


class EventStatus(StrEnum):
    """How a wait in the triggerer ended."""

    SUCCESS = "success"  # the job completed
    FAILED = "failed"  # the job ended in a failure state
    ERROR = "error"  # Zoho (or the connection) refused in a way no retry can change
    TIMEOUT = "timeout"  # the sensor's deadline passed first


class JobEvent(TypedDict):
    """A trigger event's payload, stored in Airflow's database as it is.

    JSON-safe and holding only Zoho's answer and messages: never a token, secret or request header.
    ``summary`` is ``JobStatus.summary()`` for a job that ended; ``error`` Zoho's code and message.
    """

    status: str
    message: str
    summary: dict[str, Any] | None
    error: dict[str, Any] | None


def finished_event(job: JobStatus) -> JobEvent:
    """Return the event of a job that ended, successfully or not.

    :param job: the job's last status.
    :return: the event, its summary the job's.
    """
    succeeded = job.phase is Phase.SUCCEEDED
    return JobEvent(
        status=(EventStatus.SUCCESS if succeeded else EventStatus.FAILED).value,
        message=job.describe(),
        summary=job.summary(),
        error=None if succeeded else {"code": job.failure_code, "message": job.failure_message},
    )


def error_event(error: Exception) -> JobEvent:
    """Return the event of a wait that stopped on an error no retry can change.

    :param error: what stopped it.
    :return: the event, with Zoho's code and message when the error is Zoho's.
    """
    details = error.to_dict() if isinstance(error, ZohoError) else {"code": type(error).__name__, "message": str(error)}
    return JobEvent(status=EventStatus.ERROR.value, message=str(error), summary=None, error=details)


def timeout_event(description: str, last_error: ZohoError | None) -> JobEvent:
    """Return the event of a wait whose deadline passed first.

    :param description: the job waited for, for the message.
    :param last_error: the last poll's error, when it failed.
    :return: the event.
    """
    reason = f"; the last poll failed with {last_error}" if last_error is not None else ""
    return JobEvent(
        status=EventStatus.TIMEOUT.value,
        message=f"Sensor timed out waiting for {description}{reason}",
        summary=None,
        error=last_error.to_dict() if last_error is not None else None,
    )


def checked_event(payload: Any) -> tuple[EventStatus, JobEvent]:
    """Check an event coming back from the triggerer; anything malformed is reported, not guessed at.

    :param payload: the event's payload as the task got it.
    :return: its status and the payload itself.
    """
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        raise ValueError(f"Malformed Zoho trigger event: {payload!r}")
    try:
        status = EventStatus(str(payload.get("status")))
    except ValueError:
        raise ValueError(f"Zoho trigger event has an unknown status: {payload.get('status')!r}") from None
    if status in (EventStatus.SUCCESS, EventStatus.FAILED) and not isinstance(payload.get("summary"), dict):
        raise ValueError(f"Zoho trigger event {status.value!r} lacks the job summary")
    return status, JobEvent(
        status=status.value, message=payload["message"], summary=payload.get("summary"), error=payload.get("error")
    )
