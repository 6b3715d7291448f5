"""The "Zoho" button: each link per product and data center, no link when a part is missing, the XCom it reads;
and the asset events an operator's outlets get."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import Asset

from airflow_provider_zoho.data_centers import DATA_CENTERS
from airflow_provider_zoho.get_provider_info import get_provider_info
from airflow_provider_zoho.links import LINK_KEY, ZohoLink, job_link, ui_host
from airflow_provider_zoho.operators import ZohoCRMBulkReadOperator, ZohoCRMBulkWriteOperator
from airflow_provider_zoho.sensors import ZohoAnalyticsImportJobSensor
from airflow_provider_zoho.testing import ZohoEmulator
from tests.helpers import ORG, WORKSPACE, context, run


@pytest.mark.parametrize(
    ("code", "crm", "analytics", "creator"),
    [
        ("us", "crm.zoho.com", "analytics.zoho.com", "creatorapp.zoho.com"),
        ("eu", "crm.zoho.eu", "analytics.zoho.eu", "creatorapp.zoho.eu"),
        ("in", "crm.zoho.in", "analytics.zoho.in", "creatorapp.zoho.in"),
        ("au", "crm.zoho.com.au", "analytics.zoho.com.au", "creatorapp.zoho.com.au"),
        ("jp", "crm.zoho.jp", "analytics.zoho.jp", "creatorapp.zoho.jp"),
        ("cn", "crm.zoho.com.cn", "analytics.zoho.com.cn", "creatorapp.zoho.com.cn"),
        ("ca", "crm.zohocloud.ca", "analytics.zohocloud.ca", "creatorapp.zohocloud.ca"),
        ("sa", "crm.zoho.sa", "analytics.zoho.sa", "creatorapp.zoho.sa"),
        ("uk", "crm.zoho.uk", "analytics.zoho.uk", "creatorapp.zoho.uk"),
    ],
)
def test_each_products_ui_host_per_data_center(code: str, crm: str, analytics: str, creator: str) -> None:
    center = DATA_CENTERS[code]
    assert (ui_host("crm", center), ui_host("analytics", center), ui_host("creator", center)) == (
        crm,
        analytics,
        creator,
    )


EU = DATA_CENTERS["eu"]


@pytest.mark.parametrize(
    ("kind", "parts", "url"),
    [
        (
            "crm_bulk_write",
            {"org_id": "6196138", "module": "Contacts"},
            "https://crm.zoho.eu/crm/org6196138/tab/Contacts",
        ),
        ("crm_bulk_read", {"org_id": "6196138", "module": None}, "https://crm.zoho.eu/crm/org6196138"),
        ("bigin_bulk_write", {"org_id": "6196138", "module": "Contacts"}, "https://bigin.zoho.eu/bigin/org6196138"),
        ("analytics_import", {"workspace_id": "1", "view_id": "2"}, "https://analytics.zoho.eu/workspace/1/view/2"),
        ("analytics_export", {"workspace_id": "1"}, "https://analytics.zoho.eu/workspace/1"),
        (
            "creator_bulk_insert",
            {"account_owner_name": "jason18", "app_link_name": "store", "form_link_name": "Orders"},
            "https://creatorapp.zoho.eu/jason18/store/#Form:Orders",
        ),
        (
            "creator_bulk_read",
            {"account_owner_name": "jason18", "app_link_name": "store", "report_link_name": "All Orders"},
            "https://creatorapp.zoho.eu/jason18/store/#Report:All%20Orders",
        ),
    ],
)
def test_each_kinds_link(kind: str, parts: dict[str, Any], url: str) -> None:
    assert job_link(kind, EU, parts) == url


@pytest.mark.parametrize(
    ("kind", "parts"),
    [
        ("crm_bulk_write", {"module": "Contacts"}),  # no org id known: no link, never a wrong one
        ("bigin_bulk_read", {}),
        ("analytics_import", {"view_id": "2"}),
        ("creator_bulk_read", {"account_owner_name": "jason18", "app_link_name": "store"}),
        ("my_own_kind", {"org_id": "1"}),
    ],
)
def test_no_link_when_a_part_is_missing(kind: str, parts: dict[str, Any]) -> None:
    assert job_link(kind, EU, parts) is None


def test_the_link_is_registered_and_on_every_operator_and_sensor() -> None:
    assert get_provider_info()["extra-links"] == ["airflow_provider_zoho.links.ZohoLink"]
    for task in (ZohoCRMBulkWriteOperator, ZohoCRMBulkReadOperator, ZohoAnalyticsImportJobSensor):
        assert [type(link) for link in task.operator_extra_links] == [ZohoLink]
    assert ZohoLink.name == "Zoho"


def test_an_export_pushes_its_link_for_the_button_and_logs_it(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_DEFAULT", zoho_emulator.airflow_connection(analytics_org_id=ORG, crm_org_id="6196138")
    )
    zoho_emulator.reads.seed_records("crm", "Contacts", 3, replace=True)
    ctx = context()
    contacts = Asset("zoho_crm_contacts")
    events: dict[Any, Any] = {contacts: SimpleNamespace(extra={})}
    ctx["outlet_events"] = events
    operator = ZohoCRMBulkReadOperator(
        task_id="export",
        module="Contacts",
        destination=str(tmp_path / "c.csv"),
        poll_interval=0.05,
        outlets=[contacts],
    )
    summary = run(operator, ctx)
    links = {value for key, value in ctx["ti"].pushed if key == LINK_KEY}
    # The connection's host is the emulator's, its data center the default: the link is Zoho's US UI.
    assert links == {"https://crm.zoho.com/crm/org6196138/tab/Contacts"}
    assert events[contacts].extra == {
        "records": 3,
        "job_ids": summary["job_ids"],
        "watermark": "2026-01-01T00:02:00+00:00",
    }


def test_a_sensor_without_what_its_link_needs_pushes_none(zoho_conn: ZohoEmulator) -> None:
    zoho_conn.add_job("analytics_import", "4242", ["1004"], workspace_id=WORKSPACE, org_id=ORG)
    sensor = ZohoAnalyticsImportJobSensor(task_id="wait", workspace_id=WORKSPACE, job_id="4242", poke_interval=0.05)
    ctx = context()
    sensor.execute(ctx)
    assert [value for key, value in ctx["ti"].pushed if key == LINK_KEY] == [
        f"https://analytics.zoho.com/workspace/{WORKSPACE}"
    ]


def test_a_load_tells_its_outlets_what_landed(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text("Last_Name,Email\nBoyle,p@example.com\nRay,r@example.com\n")
    loaded = Asset("zoho_crm_contacts_loaded")
    ctx = context()
    events: dict[Any, Any] = {loaded: SimpleNamespace(extra={})}
    ctx["outlet_events"] = events
    operator = ZohoCRMBulkWriteOperator(
        task_id="load", module="Contacts", file=str(source), poll_interval=0.05, outlets=[loaded]
    )
    summary = run(operator, ctx)
    assert events[loaded].extra == {"job_ids": summary["job_ids"], "counts": summary["counts"]}
    assert summary["counts"]["added"] == 2
