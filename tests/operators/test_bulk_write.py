"""The CRM and Bigin bulk write operators over real HTTP against the emulator: upload, create, wait, results."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_zoho.compat import AirflowException, AirflowFailException
from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.hooks.transport import token_may_go_to
from airflow_provider_zoho.operators import ZohoBiginBulkWriteOperator, ZohoCRMBulkWriteOperator
from airflow_provider_zoho.operators.base import DURABLE_SUPPORTED
from airflow_provider_zoho.operators.bulk_write import ZohoBulkWriteOperator
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import ORG_ZGID, Outcomes
from tests.helpers import MODES, StateStore, TaskInstance, captured_log, context, first_event, rebuild, run

HEADER = ["Last_Name", "First_Name", "Email"]


def write_csv(path: Path, rows: int, header: list[str] = HEADER, blank_every: int = 0) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for n in range(rows):
            last = "" if blank_every and n % blank_every == 0 else f"Boyle{n}"
            writer.writerow([last, f"Pat{n}", f"pat{n}@example.com"])
    return path


def make(cls: type[ZohoBulkWriteOperator] = ZohoCRMBulkWriteOperator, **kwargs: Any) -> ZohoBulkWriteOperator:
    options: dict[str, Any] = {"task_id": "load", "module": "Contacts", "poll_interval": 0.05, "timeout": 60, **kwargs}
    return cls(**options)


def write_requests(emulator: ZohoEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.received_requests() if "upload" in r.path or r.method == "POST"]


@MODES
def test_loads_a_csv_and_returns_the_summary(zoho_conn: ZohoEmulator, tmp_path: Path, deferrable: bool) -> None:
    source = write_csv(tmp_path / "contacts.csv", 3)
    ctx = context()
    summary = run(make(file=str(source), deferrable=deferrable), ctx)

    [upload] = zoho_conn.uploads()
    assert upload.headers["feature"] == "bulk-write"
    assert upload.headers["X-CRM-ORG"] == ORG_ZGID  # looked up from the org API: no crm_org_id extra
    assert upload.zip_names == ("Contacts.csv",)
    assert upload.csv_text.replace("\r\n", "\n") == source.read_text()
    [job] = zoho_conn.created_jobs()
    assert job.body == {
        "operation": "insert",
        "ignore_empty": False,
        "resource": [{"type": "data", "module": {"api_name": "Contacts"}, "file_id": upload.file_id}],
    }
    assert summary["kind"] == "crm_bulk_write"
    assert summary["job_ids"] == [job.job_id]
    assert summary["state"] == "COMPLETED"
    assert summary["counts"] == {"added": 3, "updated": 0, "skipped": 0, "unprocessed": 0, "total": 3}
    assert summary["failed_records"] == []
    assert [j["job_id"] for j in summary["jobs"]] == [job.job_id]
    assert ("zoho_job_ids", [job.job_id]) in ctx["ti"].pushed
    assert ctx["task_state_store"].values["zoho_job_ids"] == [job.job_id]
    downloads = [r for r in zoho_conn.received_requests() if "/bulk-write/" in r.path]
    assert len(downloads) == 1
    assert downloads[0].header("Authorization")


@pytest.mark.parametrize("operation", ["update", "upsert"])
def test_create_body_carries_find_by_for_update_and_upsert(
    zoho_conn: ZohoEmulator, tmp_path: Path, operation: str
) -> None:
    source = write_csv(tmp_path / "c.csv", 2)
    mappings = [{"api_name": "Last_Name", "index": 0}, {"api_name": "Email", "index": 2}]
    run(
        make(file=str(source), operation=operation, find_by="Email", field_mappings=mappings, max_failed_records=None),
        context(),
    )
    [job] = zoho_conn.created_jobs()
    assert job.body["operation"] == operation
    assert job.body["resource"][0]["find_by"] == "Email"
    assert job.body["resource"][0]["field_mappings"] == mappings


def test_bigin_uses_its_own_paths(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    summary = run(make(ZohoBiginBulkWriteOperator, file=str(write_csv(tmp_path / "c.csv", 2))), context())
    assert summary["kind"] == "bigin_bulk_write"
    paths = {r.path for r in zoho_conn.received_requests()}
    assert {"/bigin/v2/org", "/bigin/v2/upload", "/bigin/bulk/v2/write"} <= paths
    assert not any(path.startswith("/crm/") for path in paths)


def test_splits_60000_rows_into_three_jobs_in_order_and_sums_counts(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "big.csv", 60_000)
    summary = run(make(file=str(source)), context())
    jobs = zoho_conn.created_jobs()
    assert [len(j.rows) for j in jobs] == [25_000, 25_000, 10_000]
    assert summary["job_ids"] == [j.job_id for j in jobs]
    assert summary["counts"] == {"added": 60_000, "updated": 0, "skipped": 0, "unprocessed": 0, "total": 60_000}
    uploads = zoho_conn.uploads()
    assert all(u.csv_text.startswith("Last_Name,First_Name,Email") for u in uploads)
    assert uploads[1].csv_text.splitlines()[1].startswith("Boyle25000,")


def failing_outcomes(emulator: ZohoEmulator) -> None:
    emulator.set_bulk_write_outcomes(
        Outcomes(skipped={3: "DUPLICATE_DATA-Email"}, unprocessed=frozenset({5}), mandatory=("Last_Name",))
    )


def test_records_that_did_not_land_fail_the_task_with_counts_and_codes(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    failing_outcomes(zoho_conn)
    source = write_csv(tmp_path / "c.csv", 6, blank_every=4)  # rows 2 and 6 have no Last_Name
    with pytest.raises(AirflowFailException, match=r"4 record\(s\) did not land") as failed:
        run(make(file=str(source)), context())
    assert "MANDATORY_NOT_FOUND (2)" in str(failed.value)
    assert "DUPLICATE_DATA (1)" in str(failed.value)


def test_failed_rows_in_xcom_log_and_file_under_the_threshold(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    failing_outcomes(zoho_conn)
    source = write_csv(tmp_path / "c.csv", 6, blank_every=4)
    failed_path = tmp_path / "failed.csv"
    with captured_log() as entries:
        summary = run(make(file=str(source), max_failed_records=4, failed_records_path=str(failed_path)), context())
    assert summary["counts"] == {"added": 2, "updated": 0, "skipped": 3, "unprocessed": 1, "total": 6}
    rows = {r["row"]: (r["status"], r["errors"]) for r in summary["failed_records"]}
    assert rows == {
        2: ("skipped", "MANDATORY_NOT_FOUND-Last_Name"),
        3: ("skipped", "DUPLICATE_DATA-Email"),
        5: ("unprocessed", ""),
        6: ("skipped", "MANDATORY_NOT_FOUND-Last_Name"),
    }
    assert summary["failed_records"][1]["Email"] == "pat1@example.com"
    assert "DUPLICATE_DATA-Email" in "\n".join(entries)
    written = list(csv.DictReader(failed_path.open()))
    assert [int(r["row"]) for r in written] == [2, 3, 5, 6]


def test_a_file_and_a_failed_records_path_given_as_uris_go_through_object_storage(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    """``file://`` URIs are ObjectStoragePaths (on Airflow 2.11 a ``pathlib.Path`` too): read and written through
    their file system, never handed to ``os`` as a file name."""
    failing_outcomes(zoho_conn)
    source = write_csv(tmp_path / "c.csv", 6, blank_every=4)
    failed_path = tmp_path / "failed.csv"
    summary = run(make(file=source.as_uri(), max_failed_records=4, failed_records_path=failed_path.as_uri()), context())
    assert summary["counts"]["total"] == 6
    assert [int(r["row"]) for r in csv.DictReader(failed_path.open())] == [2, 3, 5, 6]
    with pytest.raises(AirflowFailException, match="does not exist"):
        run(make(file=(tmp_path / "missing.csv").as_uri()), context())


def test_never_fails_on_records_with_none(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    failing_outcomes(zoho_conn)
    summary = run(make(file=str(write_csv(tmp_path / "c.csv", 6, blank_every=4)), max_failed_records=None), context())
    assert summary["counts"]["skipped"] == 3


@pytest.mark.skipif(
    not DURABLE_SUPPORTED, reason="reattaching needs Airflow 3.3's ResumableJobMixin; older Airflow resubmits"
)
def test_a_retry_reattaches_to_a_completed_job_without_uploading_again(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "c.csv", 3))
    store = StateStore()
    first = run(make(file=source), context(store))
    zoho_conn.reset_counters()
    second = run(make(file=source), context(store))
    assert write_requests(zoho_conn) == []
    assert len(zoho_conn.created_jobs()) == 1
    assert second["job_ids"] == first["job_ids"]
    assert second["counts"] == first["counts"]


@pytest.mark.skipif(
    not DURABLE_SUPPORTED, reason="reattaching needs Airflow 3.3's ResumableJobMixin; older Airflow resubmits"
)
def test_a_retry_reattaches_to_a_running_job_and_waits(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "c.csv", 3))
    store = StateStore()
    with pytest.raises(TaskDeferred):  # the first try defers, then its worker is lost
        make(file=source, deferrable=True).execute(context(store))  # type: ignore[arg-type]
    zoho_conn.reset_counters()
    summary = run(make(file=source), context(store))
    assert write_requests(zoho_conn) == []
    assert summary["job_ids"] == store.values["zoho_job_ids"]
    assert summary["state"] == "COMPLETED"


def test_a_retry_after_a_failed_job_creates_it_anew(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "c.csv", 3))
    store = StateStore()
    zoho_conn.set_bulk_write_outcomes(Outcomes(script=("FAILED",)))
    with pytest.raises(AirflowException, match="FAILED"):
        run(make(file=source), context(store))
    zoho_conn.set_bulk_write_outcomes(Outcomes())
    # The emulator wrote the failed job's records: Zoho skips them again as DUPLICATE_DATA (Email is unique).
    summary = run(make(file=source, max_failed_records=None), context(store))
    assert len(zoho_conn.uploads()) == 2
    assert summary["job_ids"] == [zoho_conn.created_jobs()[1].job_id]


@pytest.mark.skipif(
    not DURABLE_SUPPORTED, reason="reattaching needs Airflow 3.3's ResumableJobMixin; older Airflow resubmits"
)
def test_a_retry_creates_anew_only_the_part_whose_job_failed(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "c.csv", 6))
    store = StateStore()
    first = run(make(file=source, max_records_per_job=2), context(store))
    assert store.values["zoho_job_ids"] == first["job_ids"]  # a plain list, one id per part
    assert store.values["zoho_job_parts"] == {"first_rows": [2, 4, 6], "complete": True}
    # The middle part's job failed at Zoho (as seen by the retry); the other two completed.
    failed_id = "4150868000009"
    zoho_conn.add_job("crm_bulk_write", failed_id, ["FAILED"])
    store.values["zoho_job_ids"] = [first["job_ids"][0], failed_id, first["job_ids"][2]]
    uploaded_before = len(zoho_conn.uploads())
    operator = make(file=source, max_records_per_job=2)
    assert operator.get_job_status(store.values["zoho_job_ids"], context(store)) == "FAILED"  # Zoho's own state
    # The first run's middle job did write rows 4-5: Zoho skips them again as DUPLICATE_DATA (Email is unique).
    summary = run(make(file=source, max_records_per_job=2, max_failed_records=None), context(store))
    uploads = zoho_conn.uploads()[uploaded_before:]
    assert len(uploads) == 1  # only the failed part is loaded again
    assert uploads[0].csv_text is not None
    assert uploads[0].csv_text.splitlines()[1].startswith("Boyle2,")  # rows 4-5: the middle part
    assert summary["job_ids"][0] == first["job_ids"][0]
    assert summary["job_ids"][2] == first["job_ids"][2]
    assert summary["job_ids"][1] not in (failed_id, *first["job_ids"])
    assert store.values["zoho_job_ids"] == summary["job_ids"]


@pytest.mark.skipif(
    not DURABLE_SUPPORTED, reason="reattaching needs Airflow 3.3's ResumableJobMixin; older Airflow resubmits"
)
def test_a_retry_reattaches_to_what_the_earlier_version_stored(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "c.csv", 3))
    first = run(make(file=source), context())
    store = StateStore()  # version 0.1.0 kept ids, first rows and completeness in one dict
    store.values["zoho_job_ids"] = {"job_ids": first["job_ids"], "first_rows": [2], "complete": True}
    zoho_conn.reset_counters()
    second = run(make(file=source), context(store))
    assert write_requests(zoho_conn) == []
    assert second["job_ids"] == first["job_ids"]


def test_without_reattach_a_retry_creates_again(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "c.csv", 3))
    store = StateStore()
    run(make(file=source, reattach_on_retry=False), context(store))
    # The same records again: Zoho skips them as DUPLICATE_DATA (Email is unique), the load is created anew.
    second = run(make(file=source, reattach_on_retry=False, max_failed_records=None), context(store))
    assert second["counts"]["skipped"] == 3
    assert len(zoho_conn.created_jobs()) == 2
    assert store.values == {}


def test_the_token_never_goes_to_a_download_host_that_is_not_zoho(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    port = zoho_conn.download_url.rsplit(":", 1)[1]
    zoho_conn.set_download_base(f"http://localhost:{port}")  # the same server, under a name not trusted
    failing_outcomes(zoho_conn)
    with captured_log() as entries:
        summary = run(make(file=str(write_csv(tmp_path / "c.csv", 3)), max_failed_records=None), context())
    assert not [r for r in zoho_conn.received_requests() if "/bulk-write/" in r.path]
    assert summary["failed_records"] == []
    assert summary["counts"]["skipped"] == 1
    assert "not downloading its result" in "\n".join(entries)


def test_which_hosts_get_the_token() -> None:
    def config(**extra: str) -> ZohoConnectionConfig:
        return ZohoConnectionConfig.from_fields(
            "z", login="id", password="s", host=None, extra={"refresh_token": "r", **extra}
        )

    us = config()
    assert token_may_go_to("https://download-accl.zoho.com/v2/crm/1/bulk-write/2/2.zip", us)
    assert token_may_go_to("https://download.zohocrm.com/x.zip", us)
    assert not token_may_go_to("http://download.zohocrm.com/x.zip", us)
    assert not token_may_go_to("https://download.zohocrm.eu/x.zip", us)
    assert not token_may_go_to("https://zoho.com.evil.example/x.zip", us)
    assert token_may_go_to("https://files.example/x.zip", config(upload_host="https://files.example"))


def test_crm_org_id_and_upload_host_extras_are_used(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With ``crm_org_id`` no org lookup is made; ``upload_host`` (here the emulator under another name) gets the file."""
    upload_host = zoho_emulator.base_url.replace("127.0.0.1", "localhost")
    monkeypatch.setenv(
        "AIRFLOW_CONN_ZOHO_DEFAULT", zoho_emulator.airflow_connection(crm_org_id=ORG_ZGID, upload_host=upload_host)
    )
    run(make(file=str(write_csv(tmp_path / "c.csv", 2))), context())
    requests = zoho_emulator.received_requests()
    assert not [r for r in requests if r.path.endswith("/org")]
    [upload] = [r for r in requests if r.path == "/crm/v8/upload"]
    assert upload.header("Host") == upload_host.removeprefix("http://")
    assert zoho_emulator.uploads()[0].headers["X-CRM-ORG"] == ORG_ZGID


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "empty"), ("Last_Name\n", "no records"), (",".join(f"F{n}" for n in range(201)) + "\n1\n", "201 columns")],
)
def test_limits_are_checked_before_any_upload(
    zoho_conn: ZohoEmulator, tmp_path: Path, content: str, problem: str
) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(content)
    with pytest.raises(AirflowFailException, match=problem):
        run(make(file=str(source)), context())
    assert zoho_conn.uploads() == []
    assert zoho_conn.created_jobs() == []


def test_wait_for_completion_false_returns_once_the_job_exists(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    result = run(make(file=str(write_csv(tmp_path / "c.csv", 2)), wait_for_completion=False), context())
    assert result["job_ids"] == [zoho_conn.created_jobs()[0].job_id]
    assert zoho_conn.status_requests() == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation": "merge"}, "operation must be one of insert, update, upsert"),
        ({"operation": "upsert"}, "find_by is required for upsert"),
        ({"module": ""}, "module is required"),
        ({"field_mappings": [{"index": 0}]}, "field_mappings must be a list"),
        ({"max_failed_records": -1}, "max_failed_records must be"),
        ({"poll_interval": 0}, "poll_interval must be a positive number"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(file="/data/c.csv", **kwargs)


def test_templates_are_checked_once_rendered() -> None:
    operator = make(file="{{ params.file }}", operation="{{ params.op }}")
    operator.operation = "merge"
    with pytest.raises(AirflowFailException, match="operation must be one of"):
        operator.check_rendered()


def test_bigin_refuses_modules_zoho_refuses() -> None:
    with pytest.raises(ValueError, match="do not take module 'Notes'"):
        make(ZohoBiginBulkWriteOperator, file="/data/c.csv", module="Notes")


def test_emulator_answers_zoho_json_for_a_wrong_path_or_method(zoho_emulator: ZohoEmulator) -> None:
    import requests

    wrong_path = requests.get(zoho_emulator.base_url + "/crm/v8/nowhere", timeout=5)
    assert (wrong_path.status_code, wrong_path.json()["code"]) == (404, "INVALID_URL_PATTERN")
    wrong_method = requests.delete(zoho_emulator.base_url + "/crm/v8/upload", timeout=5)
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (400, "INVALID_REQUEST_METHOD")


def test_result_zip_has_zohos_columns(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    from airflow_provider_zoho.hooks.zoho import ZohoHook

    summary = run(make(file=str(write_csv(tmp_path / "c.csv", 2))), context())
    url = summary["jobs"][0]["response"]["result"]["download_url"]
    assert url.startswith(zoho_conn.download_url)
    sink = io.BytesIO()
    ZohoHook().download(url, sink, 10**6, time_allowed=30)
    with zipfile.ZipFile(sink) as archive:
        header = archive.read(archive.namelist()[0]).decode().splitlines()[0]
    assert header == "Last_Name,First_Name,Email,STATUS,RECORD_ID,ERRORS"


@MODES
def test_sensors_gain_max_failed_records(zoho_conn: ZohoEmulator, deferrable: bool) -> None:
    from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor
    from tests.helpers import run_sensor

    zoho_conn.add_job(
        "crm_bulk_write", "77", ["COMPLETED"], counts={"added_count": 90, "skipped_count": 10, "total_count": 100}
    )
    options: dict[str, Any] = {"job_id": "77", "poke_interval": 0.05, "poll_interval": 0.05, "deferrable": deferrable}
    assert (
        run_sensor(ZohoCRMBulkWriteJobSensor(task_id="ok", max_failed_records=10, **options))["counts"]["skipped"] == 10
    )
    assert run_sensor(ZohoCRMBulkWriteJobSensor(task_id="default", **options))["state"] == "COMPLETED"
    zoho_conn.add_job(
        "crm_bulk_write", "77", ["COMPLETED"], counts={"added_count": 90, "skipped_count": 10, "total_count": 100}
    )
    with pytest.raises(AirflowFailException, match=r"10 record\(s\) did not land"):
        run_sensor(ZohoCRMBulkWriteJobSensor(task_id="strict", max_failed_records=9, **options))


def test_example_dags_use_the_operators() -> None:
    from airflow.models.dagbag import DagBag

    repo = Path(__file__).resolve().parents[2]
    bag = DagBag(dag_folder=str(repo / "example_dags"))
    assert bag.import_errors == {}
    for dag_id, cls in (
        ("example_zoho_crm_load", ZohoCRMBulkWriteOperator),
        ("example_zoho_bigin_load", ZohoBiginBulkWriteOperator),
    ):
        load = bag.dags[dag_id].get_task("load_contacts")
        assert isinstance(load, cls)
        assert load.operation == "upsert"
        assert "{{" in load.file


@pytest.mark.skipif(not DURABLE_SUPPORTED, reason="the job ids come back from Airflow 3.3's task_state_store")
def test_a_resume_with_the_event_alone_finds_its_jobs_in_the_state_store(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    """``airflow dags test`` on Airflow 3.3.2 resumes with the trigger's event and drops the other kwargs."""
    ctx = context()
    operator = make(file=str(write_csv(tmp_path / "c.csv", 3)), deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)  # type: ignore[arg-type]
    event = asyncio.run(first_event(rebuild(deferred.value.trigger)))
    summary = getattr(operator, deferred.value.method_name)(ctx, event=event)  # no state, done or end_time
    assert summary["state"] == "COMPLETED"
    assert len(zoho_conn.created_jobs()) == 1  # nothing created again


def test_a_resume_with_the_event_alone_and_no_state_store_finds_its_jobs_in_xcom(
    zoho_conn: ZohoEmulator, tmp_path: Path
) -> None:
    """``airflow dags test`` on Airflow 2.11: kwargs dropped, and no task_state_store at all."""
    ctx: dict[str, Any] = {"ti": TaskInstance()}
    operator = make(file=str(write_csv(tmp_path / "c.csv", 3)), deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(ctx)  # type: ignore[arg-type]
    event = asyncio.run(first_event(rebuild(deferred.value.trigger)))
    summary = getattr(operator, deferred.value.method_name)(ctx, event=event)  # no state, done or end_time
    assert summary["state"] == "COMPLETED"
    assert len(zoho_conn.created_jobs()) == 1
