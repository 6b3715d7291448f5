"""OpenLineage: the names this provider gives each side, and the events Airflow's real listener emits for them.

The listener test runs ``airflow dags test`` on a DAG of a CRM load, an Analytics import and a CRM export with
the OpenLineage provider's file transport, and reads the events it wrote: what a lineage backend receives.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS
from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.lineage import file_dataset, zoho_dataset
from airflow_provider_zoho.testing import ZohoEmulator
from tests.helpers import ORG, VIEW, WORKSPACE

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def config(**extra: Any) -> ZohoConnectionConfig:
    return ZohoConnectionConfig.from_fields(
        "zoho_default", login="id", password="secret", host=None, extra={"refresh_token": "r", **extra}
    )


@pytest.mark.parametrize(
    ("location", "namespace", "name"),
    [
        ("s3://lake/zoho/contacts.csv", "s3://lake", "zoho/contacts.csv"),
        ("gs://bucket/a/b.csv", "gs://bucket", "a/b.csv"),
        ("file:///data/c.csv", "file", "/data/c.csv"),
        ("/data/c.csv", "file", "/data/c.csv"),
    ],
)
def test_the_file_side_uses_the_specs_schemes(location: str, namespace: str, name: str) -> None:
    dataset = file_dataset(location)
    assert (dataset.namespace, dataset.name) == (namespace, name)


@pytest.mark.parametrize(
    ("kind", "parts", "namespace", "name"),
    [
        (
            "crm_bulk_write",
            {"org_id": "6196138", "module": "Contacts"},
            "zohocrm://www.zohoapis.eu",
            "6196138.Contacts",
        ),
        ("crm_bulk_read", {"org_id": None, "module": "Leads"}, "zohocrm://www.zohoapis.eu", "Leads"),
        ("bigin_bulk_read", {"module": "Contacts"}, "zohobigin://www.zohoapis.eu", "Contacts"),
        ("analytics_import", {"workspace_id": "1", "view_id": "2"}, "zohoanalytics://analyticsapi.zoho.eu", "1.2"),
        ("analytics_export", {"workspace_id": "1", "view_id": None}, "zohoanalytics://analyticsapi.zoho.eu", "1"),
        (
            "creator_bulk_read",
            {"account_owner_name": "jason18", "app_link_name": "store", "report_link_name": "All_Orders"},
            "zohocreator://www.zohoapis.eu",
            "jason18.store.All_Orders",
        ),
    ],
)
def test_the_zoho_side_is_named_by_this_providers_scheme(
    kind: str, parts: dict[str, Any], namespace: str, name: str
) -> None:
    dataset = zoho_dataset(kind, config(data_center="eu"), parts)
    assert dataset is not None
    assert (dataset.namespace, dataset.name) == (namespace, name)


def test_no_zoho_side_for_a_kind_of_ones_own_or_missing_parts() -> None:
    assert zoho_dataset("my_kind", config(), {"module": "Leads"}) is None
    assert zoho_dataset("crm_bulk_write", config(), {}) is None


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="the dags test command of Airflow 3 runs the listener inline")
def test_a_real_openlineage_listener_receives_each_tasks_datasets_and_counts(
    zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    zoho_emulator.reads.seed_records("crm", "Contacts", 7, replace=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "contacts.csv").write_text("Last_Name,Email\n" + "".join(f"Boyle{n},p{n}@example.com\n" for n in range(5)))
    (work / "sales.csv").write_text("Date,Region,Sales\n" + "".join(f"2024-01-0{n + 1},East,{n}\n" for n in range(4)))
    events_file = tmp_path / "lineage.jsonl"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")},
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "tests" / "lineage_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "zoho-tests",
        "AIRFLOW_CONN_ZOHO_DEFAULT": zoho_emulator.airflow_connection(analytics_org_id=ORG, crm_org_id="6196138"),
        "ZOHO_LINEAGE_WORK": str(work),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    airflow = str(BIN / "airflow")
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
    ran = subprocess.run(
        [airflow, "dags", "test", "zoho_lineage"], env=env, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]

    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    completed = {e["job"]["name"]: e for e in events if e.get("eventType") == "COMPLETE" and "." in e["job"]["name"]}
    api, analytics = "zohocrm://127.0.0.1", "zohoanalytics://127.0.0.1"

    def without_port(namespace: str) -> str:  # the emulator's port changes each run
        return re.sub(r":[0-9]+$", "", namespace)

    def sides(task: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, Any]]:
        event = completed[f"zoho_lineage.{task}"]
        ins = [(without_port(d["namespace"]), d["name"]) for d in event["inputs"]]
        outs = [(without_port(d["namespace"]), d["name"]) for d in event["outputs"]]
        return ins, outs, event["outputs"][0].get("outputFacets", {})

    ins, outs, stats = sides("crm_load")
    assert ins == [("file", str(work / "contacts.csv"))]
    assert outs == [(api, "6196138.Contacts")]
    assert stats["outputStatistics"]["rowCount"] == 5

    ins, outs, stats = sides("analytics_import")
    assert ins == [("file", str(work / "sales.csv"))]
    assert outs == [(analytics, f"{WORKSPACE}.{VIEW}")]
    assert stats["outputStatistics"]["rowCount"] == 4

    ins, outs, stats = sides("crm_export")
    assert ins == [(api, "6196138.Contacts")]
    assert outs == [("file", str(work / "out.csv"))]
    assert stats["outputStatistics"]["rowCount"] == 12  # the 7 seeded and the 5 the load wrote
    assert stats["outputStatistics"]["size"] == (work / "out.csv").stat().st_size
    schema = completed["zoho_lineage.crm_export"]["outputs"][0]["facets"]["schema"]["fields"]
    assert {field["name"] for field in schema} >= {"Last_Name", "Email"}
