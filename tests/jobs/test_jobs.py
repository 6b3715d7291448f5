"""Reading status answers for each job kind, without I/O: the bodies are Zoho's documented shapes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_zoho.jobs import (
    ANALYTICS_IMPORT,
    BIGIN_BULK_WRITE,
    CREATOR_BULK_INSERT,
    CRM_BULK_WRITE,
    JOB_KINDS,
    JobKind,
    Phase,
    coordinate_problems,
    get_job_kind,
    normalize_state,
    read_job_status,
    states,
    values_at,
)


def analytics_body(job_code: str, **job_info: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"jobId": "1", "jobCode": job_code, "jobStatus": "X", "expiryTime": "1623764592309"}
    if job_info:
        data["jobInfo"] = job_info
    return {"status": "success", "summary": "Fetch import job info", "data": data}


def bulk_write_body(job: str, resource: str | None = None, file: str | None = None) -> dict[str, Any]:
    counts = {"added_count": 7, "skipped_count": 2, "updated_count": 1, "total_count": 10}
    return {
        "status": job,
        "id": "111",
        "resource": [{"status": resource or job, "module": "Deals", "file": {"status": file or job, **counts}}],
    }


def creator_body(state: str) -> dict[str, Any]:
    details = {"total_records": 10, "failed_records": 1, "unprocessed_records": 0, "success_records": 9}
    return {"code": 3000, "data": {"api_status": state, "record_details": details}}


@pytest.mark.parametrize(
    ("kind", "body", "phase"),
    [
        (ANALYTICS_IMPORT, analytics_body("1001"), Phase.PENDING),
        (ANALYTICS_IMPORT, analytics_body("1002"), Phase.PENDING),
        (ANALYTICS_IMPORT, analytics_body("1004"), Phase.SUCCEEDED),
        (ANALYTICS_IMPORT, analytics_body("1003"), Phase.FAILED),
        (ANALYTICS_IMPORT, analytics_body("1005"), Phase.FAILED),
        (CRM_BULK_WRITE, bulk_write_body("ADDED"), Phase.PENDING),
        (CRM_BULK_WRITE, bulk_write_body("IN PROGRESS"), Phase.PENDING),
        (CRM_BULK_WRITE, bulk_write_body("INPROGRESS"), Phase.PENDING),
        (CRM_BULK_WRITE, bulk_write_body("COMPLETED"), Phase.SUCCEEDED),
        (CRM_BULK_WRITE, bulk_write_body("COMPLETED", resource="SKIPPED"), Phase.SUCCEEDED),
        (CRM_BULK_WRITE, bulk_write_body("FAILED"), Phase.FAILED),
        (CRM_BULK_WRITE, bulk_write_body("COMPLETED", resource="FAILED"), Phase.FAILED),
        (CRM_BULK_WRITE, bulk_write_body("IN PROGRESS", file="FAILED"), Phase.FAILED),
        (BIGIN_BULK_WRITE, bulk_write_body("COMPLETED"), Phase.SUCCEEDED),
        (BIGIN_BULK_WRITE, bulk_write_body("COMPLETED", file="FAILED"), Phase.FAILED),
        (CREATOR_BULK_INSERT, creator_body("Ready-to-upload"), Phase.PENDING),
        (CREATOR_BULK_INSERT, creator_body("IN_PROGRESS"), Phase.PENDING),
        (CREATOR_BULK_INSERT, creator_body("Completed"), Phase.SUCCEEDED),
        *[
            (CREATOR_BULK_INSERT, creator_body(state), Phase.FAILED)
            for state in ("Failed", "Aborted", "User Aborted", "System Aborted", "Expired")
        ],
    ],
)
def test_states_map_to_phases(kind: JobKind, body: dict[str, Any], phase: Phase) -> None:
    job = read_job_status(kind, "111", body)
    assert job.phase is phase
    assert job.recognized


def test_analytics_summary_and_failure_message() -> None:
    summary = {"totalRowCount": 755, "successRowCount": 750, "warnings": 5}
    done = read_job_status(ANALYTICS_IMPORT, "9", analytics_body("1004", importSummary=summary))
    assert done.summary() == {
        "job_id": "9",
        "kind": "analytics_import",
        "state": "1004",
        "counts": {"total_rows": 755, "success_rows": 750, "warnings": 5},
        "response": analytics_body("1004", importSummary=summary)["data"],
    }
    failed = read_job_status(ANALYTICS_IMPORT, "9", analytics_body("1003", errorCode=8504, errorMessage="Bad CSV"))
    assert (failed.failure_code, failed.failure_message) == ("8504", "Bad CSV")
    assert "Zoho error 8504: Bad CSV" in failed.describe()
    expired = read_job_status(ANALYTICS_IMPORT, "9", analytics_body("1005"))
    assert "summary expired" in expired.describe()


def test_bulk_write_counts_sum_over_resources() -> None:
    body = bulk_write_body("COMPLETED")
    body["resource"].append(body["resource"][0])
    job = read_job_status(CRM_BULK_WRITE, "111", body)
    assert job.counts == {"added": 14, "updated": 2, "skipped": 4, "total": 20}
    assert job.response == body  # CRM has no data envelope: the whole answer is the response


def test_creator_counts_and_notes() -> None:
    job = read_job_status(CREATOR_BULK_INSERT, "5", creator_body("System Aborted"))
    assert job.counts == {"total": 10, "success": 9, "failed": 1, "unprocessed": 0}
    assert "more than 5% of its batches failed" in job.describe()
    assert "failed=1" in job.describe()


@pytest.mark.parametrize("body", [{}, None, "text", {"data": {}}, {"data": {"jobCode": None}}, {"status": []}])
def test_partial_or_odd_bodies_stay_pending_and_unrecognised(body: Any) -> None:
    for kind in JOB_KINDS.values():
        job = read_job_status(kind, "1", body)
        assert job.phase is Phase.PENDING
        assert not job.recognized


def test_unknown_state_is_pending_but_flagged() -> None:
    job = read_job_status(CREATOR_BULK_INSERT, "5", creator_body("Queued-for-review"))
    assert job.phase is Phase.PENDING
    assert not job.recognized
    assert job.state == "Queued-for-review"


@given(st.sampled_from(["IN PROGRESS", "in-progress", "In_Progress", "INPROGRESS", " in progress "]))
def test_spellings_of_one_state_normalise_alike(spelling: str) -> None:
    assert normalize_state(spelling) == "INPROGRESS"


@given(st.text())
def test_normalised_states_have_no_separators(state: str) -> None:
    normalized = normalize_state(state)
    assert normalized == normalized.upper()
    assert not any(char in normalized for char in " \t\n-_")


def test_values_at_walks_lists_and_skips_missing() -> None:
    document = {"a": [{"b": {"c": 1}}, {"b": {}}, {"x": 1}, "junk"], "d": None}
    assert values_at(document, "a[].b.c") == [1]
    assert values_at(document, "d.e") == []
    assert values_at(document, "a.b") == []


@pytest.mark.parametrize(
    ("kind", "coordinates", "problem"),
    [
        (CRM_BULK_WRITE, {"job_id": ""}, "job_id is required"),
        (CRM_BULK_WRITE, {"job_id": None}, "job_id is required"),
        (CRM_BULK_WRITE, {"job_id": "abc"}, "job_id must be Zoho's numeric id"),
        (ANALYTICS_IMPORT, {"workspace_id": "ws", "job_id": "1"}, "workspace_id must be Zoho's numeric id"),
        (
            CREATOR_BULK_INSERT,
            {"account_owner_name": "a/b", "app_link_name": "app", "form_link_name": "f", "job_id": "1"},
            "account_owner_name must be a plain Zoho link name",
        ),
        (
            CREATOR_BULK_INSERT,
            {
                "account_owner_name": "a",
                "app_link_name": "b",
                "form_link_name": "c",
                "job_id": "1",
                "environment": "qa",
            },
            "environment must be one of development, stage",
        ),
    ],
)
def test_coordinate_problems_say_what_to_fix(kind: JobKind, coordinates: dict[str, Any], problem: str) -> None:
    assert any(problem in message for message in coordinate_problems(kind, coordinates))


def test_templates_ints_and_good_values_pass() -> None:
    assert coordinate_problems(CRM_BULK_WRITE, {"job_id": "{{ params.job_id }}"}) == []
    assert coordinate_problems(CRM_BULK_WRITE, {"job_id": 123}) == []
    assert coordinate_problems(ANALYTICS_IMPORT, {"workspace_id": "35130000001055707", "job_id": "1767"}) == []


def test_unknown_kind_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"use one of analytics_import, crm_bulk_write.*or 'module:attribute'"):
        get_job_kind("crm_bulk_delete")


def test_built_in_kinds_resolve_by_name_and_by_import() -> None:
    for name, kind in JOB_KINDS.items():
        assert get_job_kind(name) is kind  # the bare names that trigger rows already in databases hold
    assert get_job_kind("airflow_provider_zoho.jobs:CRM_BULK_WRITE") is CRM_BULK_WRITE
    assert get_job_kind("airflow_provider_zoho.sensors:ZohoBiginBulkWriteJobSensor.job_kind") is BIGIN_BULK_WRITE


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_such_module_anywhere:KIND", "cannot import 'no_such_module_anywhere:KIND'"),
        ("airflow_provider_zoho.jobs:NO_SUCH_KIND", "cannot import 'airflow_provider_zoho.jobs:NO_SUCH_KIND'"),
        ("airflow_provider_zoho.jobs:normalize_state", "names a function, not a JobKind"),
        ("airflow_provider_zoho.jobs:", "names a module, not a JobKind"),
    ],
)
def test_a_bad_kind_reference_says_what_it_found(reference: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        get_job_kind(reference)


def test_each_kind_names_the_coordinate_holding_its_job_id() -> None:
    for kind in JOB_KINDS.values():
        assert kind.id_coordinate == "job_id"
        assert kind.job_id_of({"job_id": 4242, "workspace_id": "1"}) == "4242"
    read = make_kind(
        path="/r/{read_id}", path_coordinates=("read_id",), id_coordinate="read_id", numeric_coordinates=("read_id",)
    )
    assert read.job_id_of({"read_id": "99"}) == "99"
    with pytest.raises(ValueError, match="no read_id among the coordinates"):
        read.job_id_of({"job_id": "99"})


def make_kind(**overrides: Any) -> JobKind:
    fields: dict[str, Any] = {
        "name": "test_kind",
        "label": "Test job",
        "service": CRM_BULK_WRITE.service,
        "dialect": CRM_BULK_WRITE.dialect,
        "path": "/jobs/{job_id}",
        "path_coordinates": ("job_id",),
        "state_fields": ("state",),
        "succeeded": states("DONE"),
        "failed": states("FAILED"),
        "pending": states("RUNNING"),
        "counts": {},
        **overrides,
    }
    return JobKind(**fields)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"path": "/jobs/{id}"}, "path uses {id}, which path_coordinates does not list"),
        ({"path": "/jobs"}, "path_coordinates lists job_id, which path does not use"),
        ({"id_coordinate": "read_id"}, "id_coordinate 'read_id' is not one of path_coordinates"),
        (
            {"path": "/r/{read_id}", "path_coordinates": ("read_id",), "id_coordinate": "read_id"},
            "numeric_coordinates lists job_id, which is not a coordinate",
        ),
        ({"headers": {"X-Org": "job_id"}}, "headers take job_id, which is already a path coordinate"),
        ({"choices": {"region": ("eu",)}}, "choices lists region, which is not a coordinate"),
        ({"state_fields": ()}, "state_fields must name at least the job's own state"),
        ({"name": "bad name"}, "name must be a lowercase identifier"),
    ],
)
def test_a_kind_that_contradicts_itself_is_refused_when_created(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^JobKind '.*': .*" + re.escape(message)):
        make_kind(**overrides)


@pytest.mark.parametrize(
    "name",
    [".", "..", ".hidden", "a b", "a/b", "a\\b", "a%2Fb", "a?b", "a#b", "a\r\nb", "caf\u00e9", "-", "a;b"],
)
def test_link_names_are_plain_names(name: str) -> None:
    coordinates = {"account_owner_name": name, "app_link_name": "app", "form_link_name": "f", "job_id": "1"}
    [problem] = coordinate_problems(CREATOR_BULK_INSERT, coordinates)
    assert problem.startswith("account_owner_name must be a plain Zoho link name")
    assert repr(name) in problem


@pytest.mark.parametrize("name", ["jason18", "zylker-store", "Employee_Details", "john.doe", "_x", "A1-b_c.d"])
def test_real_link_names_pass(name: str) -> None:
    coordinates = {"account_owner_name": name, "app_link_name": name, "form_link_name": name, "job_id": "1"}
    assert coordinate_problems(CREATOR_BULK_INSERT, coordinates) == []


@pytest.mark.parametrize(
    ("kind", "name", "value"),
    [
        (ANALYTICS_IMPORT, "org_id", "555\r\nX-Injected: 1"),
        (ANALYTICS_IMPORT, "org_id", "555\n"),
        (ANALYTICS_IMPORT, "org_id", "55\x0052"),
        (ANALYTICS_IMPORT, "org_id", "55\u00a0522"),
        (CREATOR_BULK_INSERT, "environment", "stage\r\nX-Injected: 1"),
    ],
)
def test_header_coordinates_refuse_control_characters(kind: JobKind, name: str, value: str) -> None:
    coordinates = {"workspace_id": "1", "account_owner_name": "o", "app_link_name": "a", "form_link_name": "f"}
    problems = coordinate_problems(kind, {**coordinates, "job_id": "1", name: value})
    assert problems
    assert problems[0].startswith(f"{name} is sent in the")
    assert "printable ASCII" in problems[0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{{ params.job_id }}", "job_id is still a template after rendering"),
        ("{% raw %}1{% endraw %}", "job_id is still a template after rendering"),
        ([1], "job_id must render to text or a whole number, got list"),
        (1.5, "job_id must render to text or a whole number, got float"),
        (True, "job_id must render to text or a whole number, got bool"),
        ({"id": 1}, "job_id must render to text or a whole number, got dict"),
    ],
)
def test_rendered_values_must_be_text_or_whole_numbers(value: Any, message: str) -> None:
    assert coordinate_problems(CRM_BULK_WRITE, {"job_id": value}) == []  # at parse time: not known yet
    [problem] = coordinate_problems(CRM_BULK_WRITE, {"job_id": value}, rendered=True)
    assert problem.startswith(message)


def test_urls_quote_each_coordinate() -> None:
    path = CREATOR_BULK_INSERT.url_path(
        {"account_owner_name": "jason 18", "app_link_name": "zylker-store", "form_link_name": "Emp", "job_id": "7"}
    )
    assert path == "/creator/v2.1/bulk/jason%2018/zylker-store/form/Emp/insert/7"


@pytest.mark.parametrize("name", [".", ".."])
def test_urls_never_hold_a_dot_segment_whoever_calls(name: str) -> None:
    """The hooks take coordinates unchecked: the path itself refuses what quoting would leave as is."""
    coordinates = {"account_owner_name": "o", "app_link_name": name, "form_link_name": "f", "job_id": "7"}
    with pytest.raises(ValueError, match=re.escape("app_link_name must be a name, not '.' or '..'")):
        CREATOR_BULK_INSERT.url_path(coordinates)


def test_odd_numbers_in_counts_are_skipped_not_raised() -> None:
    body = creator_body("Completed")
    body["data"]["record_details"].update(total_records="\u00b2", failed_records="n/a")
    job = read_job_status(CREATOR_BULK_INSERT, "5", body)
    assert job.phase is Phase.SUCCEEDED
    assert job.counts == {"success": 9, "unprocessed": 0}
