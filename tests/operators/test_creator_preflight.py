"""The Creator bulk insert operator's preflight over real HTTP: Creator's meta APIs say what is wrong first."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowException, AirflowFailException
from airflow_provider_zoho.operators import ZohoCreatorBulkInsertOperator
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.creator_account import Refusal
from tests.helpers import APP, FORM, OWNER, captured_log, context, run
from tests.operators.test_creator import make as make_operator

INSERT = "/insert"


def write_csv(path: Path, header: str) -> str:
    path.write_text(header + "\n" + "".join(f"Pat{n},pat{n}@example.com\n" for n in range(2)))
    return str(path)


def make(file: str, **kwargs: Any) -> ZohoCreatorBulkInsertOperator:
    return make_operator(file=file, **kwargs)


def insert_calls(emulator: ZohoEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in emulator.received_requests() if INSERT in r.path]


def meta_calls(emulator: ZohoEmulator) -> list[str]:
    return [r.path for r in emulator.received_requests() if r.path.startswith("/creator/v2.1/meta/")]


def fails_before_any_job(emulator: ZohoEmulator, operator: ZohoCreatorBulkInsertOperator) -> str:
    with pytest.raises(AirflowFailException) as raised:
        run(operator, context())
    assert not emulator.creator_inserts.created
    assert insert_calls(emulator) == []
    return str(raised.value)


def test_a_right_input_is_checked_then_loaded(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    summary = run(make(write_csv(tmp_path / "e.csv", "Name.first_name,Email")), context())
    assert summary["state"] == "COMPLETED"
    assert meta_calls(zoho_conn) == [
        f"/creator/v2.1/meta/{OWNER}/{APP}/forms",
        f"/creator/v2.1/meta/{OWNER}/{APP}/form/{FORM}/fields",
    ]


def test_an_unknown_form_is_named_with_the_closest_one(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    operator = make(write_csv(tmp_path / "e.csv", "Name.first_name,Email"), form_link_name="Employee_Detail")
    message = fails_before_any_job(zoho_conn, operator)
    assert "'Employee_Detail' is no form of app 'zylker-store'" in message
    assert "did you mean 'Employee_Details'?" in message


def test_an_unknown_app_is_named_with_the_closest_one(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    operator = make(write_csv(tmp_path / "e.csv", "Name.first_name,Email"), app_link_name="zylker-stor")
    message = fails_before_any_job(zoho_conn, operator)
    assert "'zylker-stor' is no app of 'jason18' (Zoho answered 2892)" in message
    assert "did you mean 'zylker-store'?" in message


def test_a_misspelled_field_is_named_with_the_closest_one(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    message = fails_before_any_job(zoho_conn, make(write_csv(tmp_path / "e.csv", "Name.first_name,Emial")))
    assert "'Emial' is no field link name of form 'Employee_Details'; did you mean 'Email'?" in message


def test_a_misspelled_subfield_is_named_with_the_closest_one(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    message = fails_before_any_job(zoho_conn, make(write_csv(tmp_path / "e.csv", "Name.firstname,Email")))
    assert "did you mean 'Name.first_name'?" in message


def test_a_missing_mandatory_field_is_named(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    message = fails_before_any_job(zoho_conn, make(write_csv(tmp_path / "e.csv", "Name.first_name,Last_Name")))
    assert "mandatory field 'Email' of form 'Employee_Details' is not in the file's header" in message


def test_preflight_false_skips_the_check_and_zoho_refuses(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    operator = make(write_csv(tmp_path / "e.csv", "Name.first_name,Emial"), preflight=False)
    with pytest.raises(AirflowException) as raised:
        run(operator, context())
    assert meta_calls(zoho_conn) == []
    assert "Emial" in str(raised.value)  # the emulator's upload refusal, as Zoho's would
    assert len(zoho_conn.creator_inserts.created) == 1


def test_a_refused_metadata_call_only_warns(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    zoho_conn.creator_inserts.meta_refusal = Refusal(1130, "API access is disabled for this account.", 400)
    with captured_log() as lines:
        summary = run(make(write_csv(tmp_path / "e.csv", "Name.first_name,Email")), context())
    assert summary["state"] == "COMPLETED"
    assert any("could not check the input against Zoho's metadata" in line for line in lines)


def test_a_zip_is_not_read_for_its_header(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = tmp_path / "e.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("e.csv", "Name.first_name,Email\nPat,pat@example.com\n")
    summary = run(make(str(source)), context())
    assert summary["state"] == "COMPLETED"
