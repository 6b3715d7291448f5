"""Every example DAG imports cleanly, has the tasks the docs and the demo name, and waits the way it shows."""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.sensors import (
    ZohoAnalyticsImportJobSensor,
    ZohoBiginBulkWriteJobSensor,
    ZohoCreatorBulkInsertJobSensor,
    ZohoCRMBulkWriteJobSensor,
)

try:  # Airflow 3 moved the DagBag; the import path is the only difference this test cares about
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2.11
    from airflow.models.dagbag import DagBag

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO / "example_dags"

# dag_id -> (sensor class, task ids); the demo (scripts/demo.py) and README name these.
EXPECTED: Mapping[str, tuple[type, set[str]]] = {
    "example_zoho_analytics_import": (ZohoAnalyticsImportJobSensor, {"wait_for_job", "report"}),
    "example_zoho_crm_bulk_write": (ZohoCRMBulkWriteJobSensor, {"submit_job", "wait_for_job", "report"}),
    "example_zoho_bigin_bulk_write": (ZohoBiginBulkWriteJobSensor, {"submit_job", "wait_for_job", "report"}),
    "example_zoho_creator_bulk_insert": (
        ZohoCreatorBulkInsertJobSensor,
        {"start_job", "wait_for_job", "report", "alert"},
    ),
}


@pytest.fixture(scope="module")
def dagbag() -> Any:
    return DagBag(dag_folder=str(EXAMPLE_DAGS))


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    # The operators' examples (issue 11) are checked by tests/test_operator_bulk_write.py's own means.
    assert set(dagbag.dag_ids) == set(EXPECTED) | {"example_zoho_crm_load", "example_zoho_bigin_load"}


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_tasks_and_sensor(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    sensor_class, task_ids = EXPECTED[dag_id]
    assert {task.task_id for task in dag.tasks} == task_ids
    assert _topological_order(dag) is not None, f"{dag_id} has a cycle"

    sensor = dag.get_task("wait_for_job")
    assert type(sensor) is sensor_class
    assert sensor.deferrable is True
    assert 0 < sensor.timeout <= 3 * 3600
    assert sensor.poll_interval > 0
    # The job id is not hard-coded: it is a Jinja template, or an XComArg from the task that created the job.
    assert "{{" in str(sensor.job_id) or type(sensor.job_id).__name__.endswith("XComArg")
    # The summary is consumed downstream, from XCom.
    assert "report" in sensor.downstream_task_ids


def test_bigin_example_soft_fails_and_creator_alerts(dagbag: Any) -> None:
    assert dagbag.dags["example_zoho_bigin_bulk_write"].get_task("wait_for_job").soft_fail is True
    alert = dagbag.dags["example_zoho_creator_bulk_insert"].get_task("alert")
    assert alert.trigger_rule == "one_failed"
    assert alert.upstream_task_ids == {"wait_for_job"}


def test_readme_names_only_existing_example_dags(dagbag: Any) -> None:
    mentioned = set(re.findall(r"\bexample_zoho_\w+", (REPO / "README.md").read_text()))
    assert mentioned <= set(dagbag.dag_ids)


def test_demo_scripts_each_dag_with_its_default_params(dagbag: Any) -> None:
    """``make demo`` runs the DAGs without conf, so its scripted jobs must be the params' defaults."""
    spec = importlib.util.spec_from_file_location("zoho_demo", REPO / "scripts" / "demo.py")
    assert spec is not None
    assert spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = demo  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(demo)
    finally:
        del sys.modules[spec.name]
    assert {scenario.dag_id for scenario in demo.SCENARIOS} == set(EXPECTED)
    for scenario in demo.SCENARIOS:
        dag = dagbag.dags[scenario.dag_id]
        defaults = {name: dag.params[name] for name in dag.params}
        coordinates = {key: value for key, value in scenario.job.items() if key in defaults}
        assert coordinates == defaults, scenario.dag_id
        assert set(scenario.expected) == EXPECTED[scenario.dag_id][1]


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
