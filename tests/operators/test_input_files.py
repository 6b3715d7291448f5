"""What a load operator is given to read, and where it writes, is checked before the first request.

A ``file`` that is not a regular file (a FIFO, a directory, a device) fails naming the task and parameter; a
CSV is read whole before the first upload, and a byte that is not UTF-8, an oversized field or a row of
the wrong shape anywhere in it fails naming the file and line, with nothing uploaded; ``failed_records_path``
never follows a symlink and never replaces a file unless told to. Over real HTTP against the emulator.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.operators import (
    ZohoAnalyticsImportOperator,
    ZohoCreatorBulkInsertOperator,
    ZohoCRMBulkWriteOperator,
)
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.csv_parts import MAX_RECORD_CHARS
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes
from tests.helpers import context, run

WORKSPACE, VIEW = "35130000001055707", "35130000001234567"


def crm(file: str, **kwargs: Any) -> ZohoCRMBulkWriteOperator:
    return ZohoCRMBulkWriteOperator(
        task_id="load_contacts", module="Contacts", file=file, poll_interval=0.05, timeout=60, **kwargs
    )


def analytics(file: str, **kwargs: Any) -> ZohoAnalyticsImportOperator:
    return ZohoAnalyticsImportOperator(
        task_id="load_contacts",
        workspace_id=WORKSPACE,
        view_id=VIEW,
        file=file,
        file_type="csv",
        poll_interval=0.05,
        timeout=60,
        **kwargs,
    )


def creator(file: str, **kwargs: Any) -> ZohoCreatorBulkInsertOperator:
    """Creator holds one active job per form: a job created for a file it cannot read would block the form."""
    return ZohoCreatorBulkInsertOperator(
        task_id="load_contacts",
        account_owner_name="jason18",
        app_link_name="zylker-store",
        form_link_name="Contacts",
        file=file,
        poll_interval=0.05,
        timeout=60,
        **kwargs,
    )


def fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "contact.csv")  # nothing ever writes to it: a read would wait forever
    return str(tmp_path / "contact.csv")


NOT_FILES: dict[str, tuple[Callable[[Path], str], str]] = {
    "fifo": (fifo, "is not a regular file (it is a FIFO)"),
    "directory": (lambda tmp_path: str(tmp_path), "is not a regular file (it is a directory)"),
    "dev-zero": (lambda _tmp_path: "/dev/zero", "is not a regular file (it is a character device)"),
    "missing": (lambda tmp_path: str(tmp_path / "contact.csv"), "does not exist"),
}


@pytest.mark.parametrize("make", [crm, analytics, creator], ids=["crm", "analytics", "creator"])
@pytest.mark.parametrize("case", list(NOT_FILES))
def test_a_file_that_is_not_a_regular_file_fails_before_any_request(
    zoho_conn: ZohoEmulator, tmp_path: Path, case: str, make: Callable[[str], ZohoJobOperator]
) -> None:
    path_of, problem = NOT_FILES[case]
    file = path_of(tmp_path)
    with pytest.raises(AirflowFailException) as raised:
        run(make(file), context())
    assert str(raised.value) == f"load_contacts: file {file!r} {problem}"
    assert zoho_conn.received_requests() == []


def test_a_file_that_cannot_be_read_fails_naming_it(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    source = tmp_path / "contact.csv"
    source.write_text("Last_Name\nBoyle\n")
    source.chmod(0)
    with pytest.raises(AirflowFailException, match=r"file '.*contact.csv' cannot be read \(Permission denied\)"):
        run(crm(str(source)), context())
    assert zoho_conn.received_requests() == []


def split_file(path: Path, bad_line: bytes) -> str:
    """3,001 good records, then ``bad_line`` at line 3,003 and one more record: split in parts of 1,000."""
    with path.open("wb") as handle:
        handle.write(b"Last_Name,Email\n")
        handle.writelines(f"Boyle{n},pat{n}@example.com\n".encode() for n in range(3001))
        handle.write(bad_line + b"\nBoyle,last@example.com\n")
    return str(path)


BAD_LINES = {
    "not-utf8": (b"Boyl\xe9,pat@example.com", "line 3003: byte 0xe9 is not UTF-8"),
    "field-too-long": (b"Boyle," + b"x" * 200_000, r"line 3003: .*field.*131,?072"),
    "too-many-fields": (b"Boyle,pat@example.com,extra", "line 3003: 3 fields where the header has 2"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_a_bad_line_anywhere_fails_before_the_first_upload(zoho_conn: ZohoEmulator, tmp_path: Path, case: str) -> None:
    bad_line, problem = BAD_LINES[case]
    file = split_file(tmp_path / "contacts.csv", bad_line)
    store_context = context()
    with pytest.raises(
        AirflowFailException, match=rf"^load_contacts: file '{file}', {problem}.*; nothing was uploaded$"
    ):
        run(crm(file, max_records_per_job=1000), store_context)
    assert zoho_conn.uploads() == []
    assert zoho_conn.created_jobs() == []
    with pytest.raises(AirflowFailException, match=problem):  # a retry fails the same clear way
        run(crm(file, max_records_per_job=1000), store_context)


def test_a_header_with_no_line_end_is_read_only_so_far(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = tmp_path / "contacts.csv"
    source.write_bytes(b"x" * (MAX_RECORD_CHARS + 10))
    with pytest.raises(AirflowFailException, match=f"line 1: a record runs past {MAX_RECORD_CHARS:,} characters"):
        run(crm(str(source)), context())
    assert zoho_conn.received_requests() == []


def test_an_analytics_batch_import_with_a_bad_byte_creates_no_job(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    file = split_file(tmp_path / "sales.csv", b"East\xff,a@example.com")
    with pytest.raises(AirflowFailException, match="line 3003: byte 0xff is not UTF-8; no import job was created"):
        run(analytics(file, batch_size=20_000), context())
    assert not zoho_conn.analytics_imports.created


def failing_load(zoho_conn: ZohoEmulator, tmp_path: Path, records: Path, **kwargs: Any) -> Any:
    zoho_conn.set_bulk_write_outcomes(Outcomes(skipped={2: "INVALID_DATA-Email"}))
    source = tmp_path / "contacts.csv"
    source.write_text("Last_Name,Email\nBoyle,pat@example\n")
    return run(crm(str(source), failed_records_path=str(records), max_failed_records=None, **kwargs), context())


def test_failed_records_path_never_follows_a_symlink(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "failed.csv"
    link.symlink_to(target)
    with pytest.raises(AirflowFailException, match=r"failed_records_path '.*failed\.csv' is a symlink"):
        failing_load(zoho_conn, tmp_path, link, overwrite=True)
    assert target.read_text() == "keep me"
    assert zoho_conn.uploads() == []


def test_failed_records_path_replaces_a_file_only_with_overwrite(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    records = tmp_path / "failed.csv"
    records.write_text("yesterday's\n")
    with pytest.raises(AirflowFailException, match="exists; pass overwrite=True to replace it; nothing was uploaded"):
        failing_load(zoho_conn, tmp_path, records)
    assert records.read_text() == "yesterday's\n"
    assert zoho_conn.uploads() == []
    failing_load(zoho_conn, tmp_path, records, overwrite=True)
    assert records.read_text().splitlines() == [
        "row,status,errors,Last_Name,Email",
        "2,skipped,INVALID_DATA-Email,Boyle,pat@example",
    ]
