"""The CRM and Bigin bulk read operators over real HTTP against the emulator: pages, checks, write once, retries."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import AirflowException, AirflowFailException
from airflow_provider_zoho.operators import ZohoBiginBulkReadOperator, ZohoCRMBulkReadOperator
from airflow_provider_zoho.operators.bulk_read import ZohoBulkReadOperator
from airflow_provider_zoho.operators.extract import EXPORT_PAGES_KEY
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.emulator import airflow_connection_json
from tests.forging_proxy import Forged, ForgingProxy, json_rewrite
from tests.helpers import MODES, StateStore, TaskInstance, captured_log, context, first_event, rebuild, run

READS = "/crm/bulk/v8/read"
REPO = Path(__file__).resolve().parents[2]


def make(destination: Path | str, cls: type[ZohoBulkReadOperator] = ZohoCRMBulkReadOperator, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "task_id": "export",
        "module": "Contacts",
        "destination": str(destination),
        "poll_interval": 0.05,
        "timeout": 120,
        **kwargs,
    }
    return cls(**options)


def creates(emulator: ZohoEmulator, path: str = READS) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in emulator.received_requests() if r.method == "POST" and r.path == path]


def rows_of(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def contacts(zoho_emulator: ZohoEmulator) -> ZohoEmulator:
    """450,000 Contacts, one a minute from 2026-01-01 on."""
    zoho_emulator.reads.seed_records("crm", "Contacts", 450_000, replace=True)
    return zoho_emulator


@MODES
def test_three_pages_go_into_one_file_header_once_in_zohos_order(
    contacts: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool
) -> None:
    destination = tmp_path / "lake" / "contacts.csv"
    ctx = context()
    summary = run(make(destination, fields=["Last_Name", "Email"], deferrable=deferrable), ctx)

    rows = rows_of(destination)
    assert rows[0] == summary["columns"]
    assert "id" in rows[0]
    assert len(rows) == 450_001
    ids = [int(row[rows[0].index("id")]) for row in rows[1:]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 450_000
    assert summary["kind"] == "crm_bulk_read"
    assert (summary["records"], summary["pages"], summary["state"]) == (450_000, 3, "COMPLETED")
    assert summary["bytes"] == destination.stat().st_size
    assert summary["destination"] == str(destination)
    assert summary["watermark"] is None  # Modified_Time was not asked for
    # One job per page, the next pages asked for by the token the last one gave, never with a page number.
    bodies = creates(zoho_conn)
    assert [body["query"].get("page") for body in bodies] == [1, None, None]
    assert all("page_token" in body["query"] for body in bodies[1:])
    assert [value for key, value in ctx["ti"].pushed if key == "zoho_job_ids"][-1] == summary["job_ids"]
    assert not (tmp_path / "lake" / "contacts.csv.parts").exists()


@pytest.mark.parametrize(
    ("store", "reattach"),
    [(StateStore(), True), (None, True), (StateStore(), False)],
    ids=["task_state_store", "no task_state_store", "reattach_on_retry=False"],
)
def test_a_resume_with_the_event_alone_finds_its_pages(
    zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path, store: StateStore | None, reattach: bool
) -> None:
    """``airflow dags test`` resumes with the trigger's event and drops the other kwargs: the pages come back from
    ``task_state_store`` (Airflow 3.3) or, where none keeps them (Airflow 2.11, or no reattaching), from this
    try's XCom."""
    zoho_emulator.reads.seed_records("crm", "Contacts", 30, replace=True)
    ctx: dict[str, Any] = {"ti": TaskInstance(), **({"task_state_store": store} if store is not None else {})}
    operator = make(tmp_path / "contacts.csv", deferrable=True, reattach_on_retry=reattach)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)
    event = asyncio.run(first_event(rebuild(deferred.value.trigger)))
    summary = getattr(operator, deferred.value.method_name)(ctx, event=event)  # no pages, no end_time
    assert (summary["state"], summary["records"], summary["pages"]) == ("COMPLETED", 30, 1)
    assert len(creates(zoho_conn)) == 1  # nothing exported twice
    assert len(rows_of(tmp_path / "contacts.csv")) == 31


def test_a_destination_given_as_a_uri_is_written_through_object_storage(
    zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 30, replace=True)
    destination = tmp_path / "lake" / "contacts.csv"
    summary = run(make(destination.as_uri()), context())
    assert (summary["records"], summary["destination"]) == (30, destination.as_uri())
    assert len(rows_of(destination)) == 31
    assert not (tmp_path / "lake" / "contacts.csv.parts").exists()


def test_modified_since_and_criteria_are_in_the_create_body_and_the_watermark_in_the_summary(
    zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    # 100 records, one a minute from midnight: 40 were modified at 01:00 or later.
    zoho_emulator.reads.seed_records("crm", "Contacts", 100, modified_from="2026-03-01T00:00:00+00:00", replace=True)
    own = {"field": {"api_name": "Last_Name"}, "comparator": "not_equal", "value": "nobody"}
    summary = run(
        make(
            tmp_path / "c.csv",
            fields=["Last_Name", "Modified_Time"],
            criteria=own,
            modified_since="2026-03-01 01:00:00+00:00",  # as {{ data_interval_start }} renders
        ),
        context(),
    )
    [body] = creates(zoho_conn)
    assert body["file_type"] == "csv"
    assert body["query"]["criteria"] == {
        "group_operator": "and",
        "group": [
            own,
            {
                "field": {"api_name": "Modified_Time"},
                "comparator": "greater_equal",
                "value": "2026-03-01T01:00:00+00:00",
            },
        ],
    }
    assert summary["records"] == 40
    assert summary["watermark"].startswith("2026-03-01T01:39:00")


def test_bigin_exports_on_its_own_paths(zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_emulator.reads.seed_records("bigin", "Contacts", 5, replace=True)
    summary = run(make(tmp_path / "b.csv", cls=ZohoBiginBulkReadOperator), context())
    assert (summary["kind"], summary["records"]) == ("bigin_bulk_read", 5)
    assert len(creates(zoho_conn, "/bigin/bulk/v2/read")) == 1


def test_max_records_cuts_the_last_page_and_asks_for_no_more(
    contacts: ZohoEmulator, tmp_path: Path, zoho_conn: ZohoEmulator
) -> None:
    summary = run(
        make(tmp_path / "c.csv", fields=["Last_Name"], max_records=250_000), context()
    )  # few columns: quick zips
    assert (summary["records"], summary["pages"]) == (250_000, 2)
    assert len(rows_of(tmp_path / "c.csv")) == 250_001
    assert len(creates(zoho_conn)) == 2


def test_a_retry_goes_on_from_the_page_it_reached(
    contacts: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    contacts.reads.script_next(["COMPLETED"])
    contacts.reads.script_next(["COMPLETED"])
    contacts.reads.script_next(["IN PROGRESS", "FAILURE"])
    store = StateStore()
    destination = tmp_path / "contacts.csv"
    fields = ["Last_Name"]  # few columns: quick zips
    with pytest.raises(AirflowException, match=r"FAILURE.*a retry creates the failed job anew"):
        run(make(destination, fields=fields), context(store))
    assert not destination.exists()
    assert [page["staged"] is not None for page in store.values[EXPORT_PAGES_KEY]] == [True, True, False]
    downloads = contacts.reads.stats()["downloads"]

    summary = run(make(destination, fields=fields), context(store))
    assert (summary["records"], summary["pages"]) == (450_000, 3)
    # Only the failed page's job was created again, from the same page token; pages 1 and 2 were not exported
    # nor downloaded again.
    bodies = creates(zoho_conn)
    assert len(bodies) == 4
    assert bodies[3] == bodies[2]
    assert contacts.reads.stats()["downloads"] == downloads + 1
    assert len(rows_of(destination)) == 450_001


def test_a_retry_reattaches_to_a_job_still_running(
    zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 10, replace=True)
    zoho_emulator.reads.script_next(["IN PROGRESS"] * 40 + ["COMPLETED"])
    store = StateStore()
    with pytest.raises(AirflowException, match="Timed out waiting"):
        run(make(tmp_path / "c.csv", timeout=0.5, poll_interval=0.1), context(store))
    summary = run(make(tmp_path / "c.csv"), context(store))
    assert summary["records"] == 10
    assert len(creates(zoho_conn)) == 1


def test_a_result_zoho_no_longer_has_is_exported_again_once(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path
) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 10, replace=True)
    gone = {"code": "RESOURCE_NOT_FOUND", "details": {}, "message": "the result has expired", "status": "error"}
    proxy.forge("GET", "/result", lambda _h, _s, _b: Forged(404, json.dumps(gone).encode()), times=1)
    with captured_log() as lines:
        summary = run(make(tmp_path / "c.csv"), context())
    assert summary["records"] == 10
    assert len(summary["job_ids"]) == 1
    assert len(creates(zoho_emulator)) == 2
    assert any("creating the page's job anew" in line for line in lines)


def test_a_429_on_download_is_waited_out(zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 10, replace=True)
    throttled = {"code": "TOO_MANY_REQUESTS", "details": {}, "message": "10 downloads a minute", "status": "error"}
    proxy.forge(
        "GET",
        "/result",
        lambda _h, _s, _b: Forged(429, json.dumps(throttled).encode(), headers=(("Retry-After", "1"),)),
        times=1,
    )
    started = time.monotonic()
    summary = run(make(tmp_path / "c.csv"), context())
    assert summary["records"] == 10
    assert time.monotonic() - started >= 1.0  # Retry-After honoured


def test_the_token_goes_only_to_zoho_hosts_on_download(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path
) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 10, replace=True)

    def elsewhere(body: Any) -> Any:
        for job in body.get("data", []):
            if isinstance(job.get("result"), dict):
                job["result"]["download_url"] = "https://collector.example.net/crm/bulk/v8/read/1/result"
        return body

    proxy.forge("GET", READS + "/", json_rewrite(elsewhere))
    with pytest.raises(AirflowFailException, match="not a Zoho host") as refused:
        run(make(tmp_path / "c.csv"), context())
    assert "collector.example.net" in str(refused.value)
    assert not (tmp_path / "c.csv").exists()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("members", "found"),
    [
        ({"../x.csv": b"id\n1\n"}, "a member named '../x.csv': a path, not a file name"),
        ({"a.csv": b"id\n1\n", "b.csv": b"id\n2\n"}, "2 members ('a.csv', 'b.csv')"),
    ],
)
def test_an_archive_that_is_not_one_plain_csv_is_refused_with_nothing_written(
    zoho_emulator: ZohoEmulator, proxy: ForgingProxy, tmp_path: Path, members: dict[str, bytes], found: str
) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 10, replace=True)
    proxy.forge("GET", "/result", lambda _h, _s, _b: Forged(200, zip_of(members), "application/zip"))
    with pytest.raises(AirflowFailException, match="the result zip holds") as refused:
        run(make(tmp_path / "c.csv"), context())
    assert found in str(refused.value)
    assert "nothing was written at" in str(refused.value)
    assert not (tmp_path / "c.csv").exists()
    assert not (tmp_path / "x.csv").exists()


def test_a_result_inflating_past_max_download_bytes_is_refused(
    zoho_emulator: ZohoEmulator, zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    zoho_emulator.reads.seed_records("crm", "Contacts", 1000, replace=True)
    with pytest.raises(AirflowFailException, match="max_download_bytes=20,000"):
        run(make(tmp_path / "c.csv", max_download_bytes=20_000), context())
    assert not (tmp_path / "c.csv").exists()


_KILLED_RUN = """
import sys
from airflow_provider_zoho.operators import ZohoCRMBulkReadOperator
from tests.helpers import context, run
run(ZohoCRMBulkReadOperator(task_id="export", module="Contacts", destination=sys.argv[1], fields=["Last_Name"],
                            poll_interval=0.05, timeout=600), context())
"""  # one field: a quick zip of page 1, so the kill comes soon on a busy machine too


def test_a_killed_run_leaves_nothing_at_the_destination(contacts: ZohoEmulator, tmp_path: Path) -> None:
    contacts.reads.script_next(["COMPLETED"])
    contacts.reads.script_next(["IN PROGRESS"])  # page 2 runs for ever: the run is killed while it waits
    destination = tmp_path / "contacts.csv"
    env = {
        **os.environ,
        "AIRFLOW_CONN_ZOHO_DEFAULT": airflow_connection_json(contacts.base_url, timeout=5),
        "PYTHONPATH": str(REPO),
    }
    child = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, str(destination)], env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "contacts.csv.parts" / "page-00001.csv").exists():
            assert child.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "page 1 was never staged"
            time.sleep(0.1)
        time.sleep(0.5)  # well into page 2's wait
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert not destination.exists()
    assert sorted(path.name for path in destination.parent.iterdir()) == ["contacts.csv.parts"]
