"""The Creator bulk read operator over real HTTP against the emulator: batches chained by record_cursor, one file."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowException
from airflow_provider_zoho.operators import ZohoCreatorBulkReadOperator
from airflow_provider_zoho.testing import ZohoEmulator
from tests.forging_proxy import Forged, ForgingProxy
from tests.helpers import APP, MODES, OWNER, StateStore, captured_log, context, run

REPORT = "All_Orders"
READS = f"/creator/v2.1/bulk/{OWNER}/{APP}/report/{REPORT}/read"


def make(destination: Path, **kwargs: Any) -> ZohoCreatorBulkReadOperator:
    options: dict[str, Any] = {
        "task_id": "export",
        "account_owner_name": OWNER,
        "app_link_name": APP,
        "report_link_name": REPORT,
        "destination": str(destination),
        "poll_interval": 0.05,
        "timeout": 120,
        **kwargs,
    }
    return ZohoCreatorBulkReadOperator(**options)


def creates(emulator: ZohoEmulator) -> list[dict[str, Any]]:
    return [json.loads(r.body or b"{}") for r in emulator.received_requests() if r.method == "POST" and r.path == READS]


@MODES
def test_batches_are_chained_with_the_cursor_into_one_file(
    zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool
) -> None:
    zoho_conn.creator_bulk_reads.seed_records(OWNER, APP, "Orders", count=450_000, replace=True)
    destination = tmp_path / "orders.csv"
    summary = run(make(destination, deferrable=deferrable), context())

    assert (summary["kind"], summary["records"], summary["pages"]) == ("creator_bulk_read", 450_000, 3)
    first, *following = creates(zoho_conn)
    assert first == {"query": {"max_records": 200_000}}
    # The next batches carry the cursor alone, as Zoho asks.
    assert [set(body["query"]) for body in following] == [{"record_cursor"}, {"record_cursor"}]
    with destination.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == summary["columns"]
    assert len(rows) == 450_001  # the header once
    ids = [row[0] for row in rows[1:]]
    assert ids == sorted(ids, key=int)  # Zoho's order
    assert len(set(ids)) == 450_000  # nothing twice
    assert not (tmp_path / "orders.csv.parts").exists()


def test_fields_and_criteria_go_into_the_first_batch(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_bulk_reads.seed_records(
        OWNER, APP, "Orders", [{"Order_ID": "A1", "Amount": "5"}, {"Order_ID": "B2", "Amount": "9"}], replace=True
    )
    summary = run(make(tmp_path / "a.csv", fields=["Order_ID"], criteria='(Order_ID == "A1")'), context())
    assert summary["records"] == 1
    assert creates(zoho_conn)[0]["query"] == {
        "fields": ["Order_ID"],
        "criteria": '(Order_ID == "A1")',
        "max_records": 200_000,
    }


def test_max_records_stops_the_chain(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_bulk_reads.seed_records(OWNER, APP, "Orders", count=450_000, replace=True)
    summary = run(make(tmp_path / "orders.csv", max_records=250_000), context())
    assert (summary["records"], summary["pages"]) == (250_000, 2)
    assert len(creates(zoho_conn)) == 2


def test_a_failed_batch_fails_the_task_and_a_retry_goes_on_from_it(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_bulk_reads.seed_records(OWNER, APP, "Orders", count=250_000, replace=True)
    store = StateStore()
    destination = tmp_path / "orders.csv"
    # Batch 1 completes; batch 2 fails.
    zoho_conn.creator_bulk_reads.script_next(["In-progress", "Completed"])
    zoho_conn.creator_bulk_reads.script_next(["In-progress", "Failed"], "the report's data changed")
    with pytest.raises(AirflowException, match="Failed"):
        run(make(destination), context(store))
    assert not destination.exists()  # nothing at the destination; batch 1 stays staged beside it
    assert (tmp_path / "orders.csv.parts" / "page-00001.csv").exists()

    summary = run(make(destination), context(store))
    assert (summary["records"], summary["pages"]) == (250_000, 2)
    # The retry created batch 2 anew from the stored cursor; batch 1 was not exported again.
    bodies = creates(zoho_conn)
    assert len(bodies) == 3
    assert bodies[1] == bodies[2]


def test_a_retry_after_the_cursor_expired_exports_again_from_the_first_batch(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path
) -> None:
    zoho_emulator.creator_bulk_reads.seed_records(OWNER, APP, "Orders", count=250_000, replace=True)
    store = StateStore()
    destination = tmp_path / "orders.csv"
    zoho_emulator.creator_bulk_reads.script_next(["In-progress", "Completed"])
    zoho_emulator.creator_bulk_reads.script_next(["In-progress", "Failed"], "the report's data changed")
    with pytest.raises(AirflowException, match="Failed"):
        run(make(destination), context(store))
    # The retry comes after the cursor's 15 minutes: Zoho refuses the create that carries it.
    expired = {"code": 11000, "message": "The record_cursor has expired: it is valid for 15 minutes."}
    proxy.forge("POST", READS, lambda _h, _s, _b: Forged(400, json.dumps(expired).encode()), times=1, forward=False)

    with captured_log() as lines:
        summary = run(make(destination), context(store))
    assert (summary["records"], summary["pages"]) == (250_000, 2)
    assert any("exporting again from the first page" in line for line in lines)
    with destination.open(newline="") as handle:
        assert sum(1 for _ in csv.reader(handle)) == 250_001  # batch 1 once, not twice
