from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_zoho.errors import make_error
from airflow_provider_zoho.exceptions import ZohoTransientError
from airflow_provider_zoho.jobs import (
    CREATOR_BULK_INSERT,
    EventStatus,
    checked_event,
    error_event,
    finished_event,
    read_job_status,
    timeout_event,
)
from airflow_provider_zoho.products import Dialect


def test_finished_events_round_trip_with_the_summary() -> None:
    body = {"code": 3000, "data": {"api_status": "Failed", "record_details": {"failed_records": 3}}}
    event = finished_event(read_job_status(CREATOR_BULK_INSERT, "7", body))
    assert event["status"] == EventStatus.FAILED
    status, back = checked_event(json.loads(json.dumps(event)))  # as stored in the database
    assert status is EventStatus.FAILED
    assert back == event
    assert back["summary"] is not None
    assert back["summary"]["counts"] == {"failed": 3}


def test_error_and_timeout_events_keep_zoho_code() -> None:
    error = error_event(
        make_error(Dialect.CRM, "NO_PERMISSION", "Permission denied to read", service="api", http_status=403)
    )
    assert error["error"] == {
        "code": "NO_PERMISSION",
        "message": "Permission denied to read",
        "service": "api",
        "http_status": 403,
        "meaning": "the user may not read bulk jobs",  # the error table's row
    }
    timeout = timeout_event(
        "job 7", ZohoTransientError("TOO_MANY_REQUESTS", "slow down", service="api", http_status=429)
    )
    assert "TOO_MANY_REQUESTS" in timeout["message"]
    assert timeout["status"] == EventStatus.TIMEOUT


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
        checked_event(payload)
