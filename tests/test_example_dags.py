"""Every example DAG imports cleanly, has the tasks the docs and the demo name, and waits the way it shows."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_zoho.operators import (
    ZohoAnalyticsExportOperator,
    ZohoAnalyticsImportOperator,
    ZohoBiginBulkWriteOperator,
    ZohoCreatorBulkInsertOperator,
    ZohoCRMBulkReadOperator,
    ZohoCRMBulkWriteOperator,
)
from airflow_provider_zoho.sensors import ZohoBiginBulkWriteJobSensor

try:  # Airflow 3 moved the DagBag; the import path is the only difference this test cares about
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2.11
    from airflow.models.dagbag import DagBag

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"


@dataclass(frozen=True)
class Example:
    """An example DAG's tasks, and the one that waits for Zoho (deferred) with its class."""

    tasks: frozenset[str]
    waiter: str
    waiter_class: type


# dag_id -> what it holds; the demo (scripts/demo.py), README and the docs name these.
EXPECTED: Mapping[str, Example] = {
    "example_zoho_analytics_load": Example(
        frozenset({"load_contacts", "report"}), "load_contacts", ZohoAnalyticsImportOperator
    ),
    "example_zoho_crm_load": Example(frozenset({"load_contacts", "report"}), "load_contacts", ZohoCRMBulkWriteOperator),
    "example_zoho_bigin_load": Example(
        frozenset({"load_contacts", "job_ids", "wait_for_job", "report"}), "wait_for_job", ZohoBiginBulkWriteJobSensor
    ),
    "example_zoho_creator_load": Example(
        frozenset({"load_contacts", "report", "alert"}), "load_contacts", ZohoCreatorBulkInsertOperator
    ),
    "example_zoho_crm_export": Example(
        frozenset({"export_contacts", "report"}), "export_contacts", ZohoCRMBulkReadOperator
    ),
    "example_zoho_analytics_export": Example(
        frozenset({"export_sales", "report"}), "export_sales", ZohoAnalyticsExportOperator
    ),
}
# The DAG scheduled on the CRM export's asset: it waits for nothing in Zoho.
CONSUMERS = {"example_zoho_crm_export_consumer"}


@pytest.fixture(scope="module")
def dagbag() -> Any:
    return DagBag(dag_folder=str(EXAMPLE_DAGS))


def arguments(task: Any) -> tuple[type, dict[str, Any]]:
    """A task's class and the arguments it waits with; a mapped task's are its partial and expanded ones."""
    if hasattr(task, "partial_kwargs"):  # a MappedOperator
        return task.operator_class, {**task.partial_kwargs, **task.expand_input.value}
    names = ("deferrable", "timeout", "poll_interval", "job_id", "file", "destination", "soft_fail")
    return type(task), {name: getattr(task, name) for name in names if hasattr(task, name)}


def test_no_import_errors_and_one_example_per_product(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(EXPECTED) | CONSUMERS
    # One file per product and direction: no near-identical copies beside them.
    assert sorted(path.name for path in EXAMPLE_DAGS.glob("*.py")) == [
        f"example_zoho_{name}.py" for name in ("analytics", "analytics_export", "bigin", "creator", "crm", "crm_export")
    ]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_tasks_and_the_task_that_waits(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    example = EXPECTED[dag_id]
    assert {task.task_id for task in dag.tasks} == example.tasks
    assert _topological_order(dag) is not None, f"{dag_id} has a cycle"

    waiter = dag.get_task(example.waiter)
    waiter_class, given = arguments(waiter)
    assert waiter_class is example.waiter_class
    assert given["deferrable"] is True
    timeout = given["timeout"]
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    assert 0 < seconds <= 3 * 3600
    assert given["poll_interval"] > 0
    # What to wait for is not hard-coded: a Jinja template, or an XComArg from the task that created the job.
    target = given.get("job_id", given.get("file", given.get("destination")))
    assert "{{" in str(target) or type(target).__name__.endswith("XComArg")
    # The summary is consumed downstream, from XCom.
    assert "report" in waiter.downstream_task_ids


def test_crm_example_fails_the_run_on_too_many_failed_records(dagbag: Any) -> None:
    load = dagbag.dags["example_zoho_crm_load"].get_task("load_contacts")
    assert load.wait_for_completion is True
    assert load.max_failed_records == 10
    assert load.failed_records_path == "{{ params.file }}.failed.csv"
    assert load.operation == "upsert"
    assert load.find_by == "Email"


def test_bigin_example_starts_with_the_operator_and_waits_with_a_soft_fail_sensor(dagbag: Any) -> None:
    dag = dagbag.dags["example_zoho_bigin_load"]
    load = dag.get_task("load_contacts")
    assert type(load) is ZohoBiginBulkWriteOperator
    assert load.wait_for_completion is False
    assert dag.get_task("job_ids").upstream_task_ids == {"load_contacts"}
    _, given = arguments(dag.get_task("wait_for_job"))
    assert given["soft_fail"] is True
    assert given["max_failed_records"] == 10


def test_analytics_example_skips_rows_that_do_not_fit_within_a_threshold(dagbag: Any) -> None:
    load = dagbag.dags["example_zoho_analytics_load"].get_task("load_contacts")
    assert load.wait_for_completion is True
    assert (load.on_error, load.max_failed_records) == ("SKIPROW", 10)
    assert (load.import_type, load.matching_columns) == ("UPDATEADD", ["Email"])
    assert load.view_id.isdigit()
    assert load.table_name is None
    assert load.timeout <= 3600  # Zoho keeps an import's summary one hour


def test_creator_example_alerts_when_the_load_fails(dagbag: Any) -> None:
    dag = dagbag.dags["example_zoho_creator_load"]
    load = dag.get_task("load_contacts")
    assert load.wait_for_completion is True
    assert load.max_failed_records == 5
    alert = dag.get_task("alert")
    assert alert.trigger_rule == "one_failed"
    assert alert.upstream_task_ids == {"load_contacts"}


def test_docs_name_only_existing_example_dags(dagbag: Any) -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages)
    mentioned = set(re.findall(r"\bexample_zoho_\w+_load\b", text))
    assert mentioned, "the docs name no example DAG"
    assert mentioned <= set(dagbag.dag_ids)


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("zoho_demo", REPO / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_demo_runs_every_example_with_its_params(dagbag: Any, demo: ModuleType, tmp_path: Path) -> None:
    """Every example runs with its params in the conf (a load the demo's CSV, an export a destination folder and
    the ids the demo declared), after the emulator is given its data and told what to do with the job."""
    assert {scenario.dag_id for scenario in demo.SCENARIOS} == set(EXPECTED)
    assert len({scenario.name for scenario in demo.SCENARIOS}) == len(demo.SCENARIOS)
    csv_path = tmp_path / "c.csv"
    for scenario in demo.SCENARIOS:
        dag = dagbag.dags[scenario.dag_id]
        conf = scenario.conf(csv_path)
        assert set(conf) == set(dag.params), scenario.name
        assert "{" not in "".join(conf.values()), scenario.name
        assert set(scenario.expected) == EXPECTED[scenario.dag_id].tasks, scenario.name
        assert scenario.setup, scenario.name
        assert {call.endpoint for call in scenario.setup} & demo.OUTCOME_ENDPOINTS, scenario.name
        assert conf.get("file", str(csv_path)) == str(csv_path), scenario.name
    # The Analytics export reads the workspace and org the demo declares, not the example's defaults.
    [sales] = [s for s in demo.SCENARIOS if s.dag_id == "example_zoho_analytics_export"]
    declared = [call.body for call in sales.setup if call.endpoint == "analytics_workspaces"]
    assert [(body["workspace_id"], body["org_id"]) for body in declared] == [
        (sales.conf(csv_path)["workspace_id"], sales.conf(csv_path)["org_id"])
    ]
    # The CRM export's records: some modified after its run's data interval start, so that some are exported.
    [contacts] = [s for s in demo.SCENARIOS if s.dag_id == "example_zoho_crm_export"]
    assert contacts.logical_date is not None
    seeded = [call.body for call in contacts.setup if call.endpoint == "crm_records"]
    assert any(body["modified_from"] > contacts.logical_date and body["count"] > 0 for body in seeded)


def test_demo_scenarios_are_what_the_emulator_accepts(demo: ModuleType, zoho_emulator: Any) -> None:
    """Each scenario's outcomes, posted to its admin endpoint as the demo does, are taken as they are."""
    for scenario in demo.SCENARIOS:
        demo.script_jobs(zoho_emulator.base_url, scenario)  # SystemExit on a refusal


def _refused_lines(demo: ModuleType, outcomes: Mapping[str, Any]) -> set[int]:
    """The CSV lines a scenario's outcomes keep from landing, whichever product's form they take."""
    nameless = {demo.NAMELESS_LINE} if "Last_Name" in outcomes.get("mandatory", ()) else set()
    refused = set(outcomes.get("skipped", ())) | set(outcomes.get("unprocessed", ())) | set(outcomes.get("failed", ()))
    return {int(line) for line in refused} | nameless


def test_demo_csv_and_its_scripted_outcomes(demo: ModuleType, tmp_path: Path) -> None:
    """The counts in the scenarios' stories follow from the CSV and the scripted rows."""
    lines = demo.write_contacts_csv(tmp_path / "contacts.csv").read_text().splitlines()
    assert len(lines) == demo.CSV_ROWS + 1
    assert lines[demo.NAMELESS_LINE - 1].startswith(",")  # line 17: no Last_Name
    for name, refused in (("analytics", 3), ("crm", 4), ("crm-threshold", 12), ("creator", 7)):
        [scenario] = [s for s in demo.SCENARIOS if s.name == name]
        refused_lines = _refused_lines(demo, scenario.outcomes)
        assert len(refused_lines) == refused, name
        assert all(2 <= line <= demo.CSV_ROWS + 1 for line in refused_lines), name
        assert f" {refused} " in scenario.story


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (
            {
                "kind": "crm_bulk_write",
                "job_ids": ["1"],
                "state": "COMPLETED",
                "counts": {"added": 96, "updated": 0, "skipped": 3, "unprocessed": 1, "total": 100},
                "failed_records": [{"row": 5}, {"row": 17}],
            },
            "COMPLETED: 96 added, 3 skipped, 1 unprocessed of 100; failed lines 5, 17",
        ),
        ({"kind": "bigin_bulk_write", "job_ids": ["7", "8"], "state": None}, "created job 7, 8"),
        (
            {
                "kind": "analytics_import",
                "state": "COMPLETED",
                "counts": {"total_rows": 100, "success_rows": 97, "warnings": 0, "failed_rows": 3},
                "failed_records": [],
                "import_errors": "<b>Rows 5, 9, 12</b>: value does not match",
            },
            "COMPLETED: 97 success_rows, 3 failed_rows of 100; Zoho: Rows 5, 9, 12: value does not match",
        ),
        (
            {
                "kind": "creator_bulk_insert",
                "state": "COMPLETED",
                "counts": {"total": 20, "success": 19, "failed": 1, "unprocessed": 0},
                "failed_records": [{"row": None, "status": "failed", "errors": "Invalid email"}],
            },
            "COMPLETED: 19 success, 1 failed of 20; first failure: Invalid email",
        ),
        ({"added": 2, "updated": 0, "total": 2}, "2 added of 2"),
        ("The Creator load did not complete", "The Creator load did not complete"),
    ],
)
def test_demo_summaries_are_short(demo: ModuleType, value: Any, words: str) -> None:
    assert demo.summarize("success", 1, value, "") == words


def test_demo_says_why_a_task_failed_or_was_skipped(demo: ModuleType) -> None:
    log = (
        "[error] Task failed with exception\n"
        "airflow.sdk.exceptions.AirflowFailException: 12 record(s) did not land\n"
        "[info] Skipping task. [task] reason='Skipping due to soft_fail is set to True.'\n"
    )
    assert demo.summarize("failed", 1, None, log) == "12 record(s) did not land"
    assert demo.summarize("skipped", 1, None, log) == "Skipping due to soft_fail is set to True."
    assert demo.summarize("upstream_failed", 0, None, log) == "not run: an upstream task failed"


def test_demo_fails_a_run_that_left_a_session_open_or_exited_unexpectedly(demo: ModuleType) -> None:
    [crm] = [s for s in demo.SCENARIOS if s.name == "crm"]
    [threshold] = [s for s in demo.SCENARIOS if s.name == "crm-threshold"]
    states = dict(crm.expected)
    assert demo.problems_of(crm, 0, states, {"load_contacts": 1}, "all fine") == []
    assert demo.problems_of(threshold, 1, dict(threshold.expected), {}, "") == []  # a failure it expects
    unclosed = "[error] Unclosed client session\n[error] Unclosed connector"
    assert demo.problems_of(crm, 0, states, {}, unclosed) == [
        "its log says 'Unclosed client session' and 'Unclosed connector': an aiohttp session was left open"
    ]
    assert demo.problems_of(crm, 1, states, {"load_contacts": 2}, "") == [
        "airflow dags test exited 1",
        "task load_contacts took 2 tries",
    ]
    assert demo.problems_of(crm, -1, {}, {}, "") == [
        f"airflow dags test did not end within {demo.DAG_TEST_TIMEOUT} s",
        "task load_contacts did not run",
        "task report did not run",
    ]


def _topological_order(dag: Any) -> list[str] | None:
    upstream = {task.task_id: set(task.upstream_task_ids) for task in dag.tasks}
    order: list[str] = []
    while upstream:
        ready = sorted(task_id for task_id, needs in upstream.items() if not needs)
        if not ready:
            return None
        order.extend(ready)
        for task_id in ready:
            del upstream[task_id]
        for needs in upstream.values():
            needs.difference_update(ready)
    return order


def test_crm_export_is_incremental_and_tells_its_asset(dagbag: Any) -> None:
    export = dagbag.dags["example_zoho_crm_export"].get_task("export_contacts")
    assert export.modified_since == "{{ data_interval_start }}"
    assert "{{ ds }}" in export.destination
    assert [getattr(outlet, "name", None) or outlet.uri for outlet in export.outlets] == ["zoho_crm_contacts"]
    consumer = dagbag.dags["example_zoho_crm_export_consumer"]
    assert {task.task_id for task in consumer.tasks} == {"what_arrived"}
