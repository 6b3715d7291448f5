"""The extract operators refuse what no run could fix when the DAG is parsed, and the rest when rendered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from airflow_provider_zoho.operators import (
    ZohoAnalyticsExportOperator,
    ZohoCreatorBulkReadOperator,
    ZohoCRMBulkReadOperator,
)
from airflow_provider_zoho.operators.bulk_read import modified_since_text
from tests.helpers import APP, OWNER, WORKSPACE


def crm(**kwargs: Any) -> ZohoCRMBulkReadOperator:
    return ZohoCRMBulkReadOperator(**{"task_id": "export", "module": "Contacts", "destination": "/tmp/x.csv", **kwargs})


def analytics(**kwargs: Any) -> ZohoAnalyticsExportOperator:
    return ZohoAnalyticsExportOperator(
        **{"task_id": "export", "workspace_id": WORKSPACE, "destination": "/tmp/x.csv", **kwargs}
    )


def creator(**kwargs: Any) -> ZohoCreatorBulkReadOperator:
    options = {
        "task_id": "export",
        "account_owner_name": OWNER,
        "app_link_name": APP,
        "report_link_name": "All_Orders",
        "destination": "/tmp/x.csv",
    }
    return ZohoCreatorBulkReadOperator(**{**options, **kwargs})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"view_id": "1", "sql_query": "SELECT 1"}, "exactly one of view_id"),
        ({}, "exactly one of view_id"),
        # Which one is given is known even when its value is a template.
        ({"view_id": "{{ params.view }}", "sql_query": "{{ params.sql }}"}, "exactly one of view_id"),
        ({"view_id": "1", "response_format": "pdf"}, "response_format must be one of csv, json"),
        ({"view_id": "abc"}, "view_id must be Zoho's id"),
        ({"view_id": "1", "config": {"sqlQuery": "x"}}, "config must not set sqlQuery"),
    ],
)
def test_analytics_export_arguments_are_checked_at_parse_time(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        analytics(**given)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"fields": [f"Field_{n}" for n in range(1001)]}, "1001 fields; a bulk read takes at most 1,000"),
        ({"fields": []}, "fields is empty"),
        ({"fields": "Email"}, "fields must be a list"),
        ({"module": ""}, "module is required"),
        ({"criteria": "Email = x"}, "criteria must be Zoho's criteria object"),
        ({"cvid": "view-1"}, "cvid must be a custom view's id"),
        ({"modified_since": "yesterday"}, "modified_since must be a datetime or its ISO 8601 text"),
        ({"max_records": 0}, "max_records must be a whole number >= 1"),
        ({"max_download_bytes": -1}, "max_download_bytes must be a whole number"),
        ({"destination": " "}, "destination is required"),
    ],
)
def test_bulk_read_arguments_are_checked_at_parse_time(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        crm(**given)


def test_templates_are_checked_once_rendered_not_at_parse_time() -> None:
    operator = crm(module="{{ params.module }}", modified_since="{{ data_interval_start }}", fields="{{ params.f }}")
    assert operator.argument_problems(rendered=False) == []


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"report_link_name": "All/Orders"}, "report_link_name"),
        ({"app_link_name": ".."}, "app_link_name"),
        ({"environment": "production"}, "environment"),
        ({"fields": []}, "fields must be a non-empty list"),
        ({"criteria": {"Status": "Open"}}, "criteria must be Creator's criteria text"),
    ],
)
def test_creator_bulk_read_arguments_are_checked_at_parse_time(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        creator(**given)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2026-01-01 00:00:00+00:00", "2026-01-01T00:00:00+00:00"),  # a rendered {{ data_interval_start }}
        ("2026-01-01T05:30:00+05:30", "2026-01-01T05:30:00+05:30"),
        ("2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00"),  # no offset: UTC
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "2026-01-01T00:00:00+00:00"),
    ],
)
def test_modified_since_is_sent_as_iso_8601_with_its_offset(value: Any, text: str) -> None:
    assert modified_since_text(value) == text


def test_modified_since_and_criteria_go_together_into_one_group() -> None:
    own = {"field": {"api_name": "Lead_Source"}, "comparator": "equal", "value": "Web"}
    query = crm(criteria=own, modified_since="2026-01-01 00:00:00+00:00", fields=["Email"]).query({"page": 1})
    assert query == {
        "module": {"api_name": "Contacts"},
        "fields": ["Email"],
        "criteria": {
            "group_operator": "and",
            "group": [
                own,
                {
                    "field": {"api_name": "Modified_Time"},
                    "comparator": "greater_equal",
                    "value": "2026-01-01T00:00:00+00:00",
                },
            ],
        },
        "page": 1,
    }
