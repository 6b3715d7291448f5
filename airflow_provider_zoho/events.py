"""The payloads a ``ZohoJobTrigger`` yields and the sensor reads back.

They are stored in Airflow's database, so they are JSON-safe and hold only Zoho's answer and messages:
never a token, secret or request header.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.jobs import JobStatus


class EventStatus(StrEnum):
    SUCCESS = "success"  # the job completed
    FAILED = "failed"  # the job ended in a failure state
    ERROR = "error"  # Zoho (or the connection) refused in a way no retry can change
    TIMEOUT = "timeout"  # the sensor's deadline passed first


@dataclass(frozen=True)
class JobEvent:
    status: EventStatus
    message: str
    summary: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        return {"status": self.status.value, "message": self.message, "summary": self.summary, "error": self.error}

    @classmethod
    def from_payload(cls, payload: Any) -> JobEvent:
        """Check an event coming back from the triggerer; anything malformed is reported, not guessed at."""
        if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
            raise ValueError(f"Malformed Zoho trigger event: {payload!r}")
        try:
            status = EventStatus(str(payload.get("status")))
        except ValueError:
            raise ValueError(f"Zoho trigger event has an unknown status: {payload.get('status')!r}") from None
        if status in (EventStatus.SUCCESS, EventStatus.FAILED) and not isinstance(payload.get("summary"), dict):
            raise ValueError(f"Zoho trigger event {status.value!r} lacks the job summary")
        return cls(status, payload["message"], payload.get("summary"), payload.get("error"))


def finished_event(job: JobStatus) -> JobEvent:
    status = EventStatus.SUCCESS if job.phase.value == "succeeded" else EventStatus.FAILED
    error = {"code": job.failure_code, "message": job.failure_message} if status is EventStatus.FAILED else None
    return JobEvent(status, job.describe(), summary=job.summary(), error=error)


def error_event(error: Exception) -> JobEvent:
    details = error.to_dict() if isinstance(error, ZohoError) else {"code": type(error).__name__, "message": str(error)}
    return JobEvent(EventStatus.ERROR, str(error), error=details)


def timeout_event(description: str, last_error: ZohoError | None) -> JobEvent:
    reason = f"; the last poll failed with {last_error}" if last_error is not None else ""
    return JobEvent(
        EventStatus.TIMEOUT,
        f"Sensor timed out waiting for {description}{reason}",
        error=last_error.to_dict() if last_error is not None else None,
    )
