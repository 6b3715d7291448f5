from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_zoho.errors import Dialect, make_error
from airflow_provider_zoho.events import EventStatus, JobEvent, error_event, finished_event, timeout_event
from airflow_provider_zoho.exceptions import ZohoTransientError
from airflow_provider_zoho.jobs import CREATOR_BULK_INSERT, read_job_status


def test_finished_events_round_trip_with_the_summary() -> None:
    body = {"code": 3000, "data": {"api_status": "Failed", "record_details": {"failed_records": 3}}}
    event = finished_event(read_job_status(CREATOR_BULK_INSERT, "7", body))
    assert event.status is EventStatus.FAILED
    back = JobEvent.from_payload(event.to_payload())
    assert back == event
    assert back.summary is not None
    assert back.summary["counts"] == {"failed": 3}


def test_error_and_timeout_events_keep_zoho_code() -> None:
    error = error_event(
        make_error(Dialect.CRM, "NO_PERMISSION", "Permission denied to read", service="api", http_status=403)
    )
    assert error.error == {
        "code": "NO_PERMISSION",
        "message": "Permission denied to read",
        "service": "api",
        "http_status": 403,
        "meaning": "the user may not read bulk jobs",  # the error table's row
    }
    timeout = timeout_event(
        "job 7", ZohoTransientError("TOO_MANY_REQUESTS", "slow down", service="api", http_status=429)
    )
    assert "TOO_MANY_REQUESTS" in timeout.message
    assert timeout.status is EventStatus.TIMEOUT


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "success",
        {"status": "success"},
        {"status": "weird", "message": "m"},
        {"status": "success", "message": "m"},
    ],
)
def test_malformed_events_are_rejected(payload: Any) -> None:
    with pytest.raises(ValueError, match=r"Zoho trigger event|Malformed"):
        JobEvent.from_payload(payload)
