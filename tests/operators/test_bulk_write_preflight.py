"""CRM and Bigin loads check the module and the file's fields against the org's metadata before any upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.operators import ZohoBiginBulkWriteOperator, ZohoCRMBulkWriteOperator
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.emulator import ClientCredentials
from tests.conftest import CONN_ID
from tests.helpers import captured_log, context, run


def make(tmp_path: Path, header: str = "Last_Name,First_Name,Email", **kwargs: Any) -> ZohoCRMBulkWriteOperator:
    source = tmp_path / "contacts.csv"
    source.write_text(header + "\n" + ",".join(f"v{n}" for n in range(len(header.split(",")))) + "\n")
    options: dict[str, Any] = {"task_id": "load", "module": "Contacts", "poll_interval": 0.05, "timeout": 60}
    return ZohoCRMBulkWriteOperator(file=str(source), **{**options, **kwargs})


def spent(emulator: ZohoEmulator) -> list[str]:
    """The requests that cost something: uploads and job creations."""
    return [r.path for r in emulator.received_requests() if r.method == "POST" and "/oauth/" not in r.path]


def test_a_right_load_reads_the_modules_and_fields_then_loads(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    summary = run(make(tmp_path), context())
    assert summary["state"] == "COMPLETED"
    paths = [r.path for r in zoho_conn.received_requests() if r.method == "GET"]
    assert "/crm/v8/settings/modules" in paths
    assert "/crm/v8/settings/fields" in paths


def test_a_misspelled_module_fails_before_any_upload(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"'Contcats' is no module .*did you mean 'Contacts'\?"):
        run(make(tmp_path, module="Contcats"), context())
    assert spent(zoho_conn) == []


def test_a_misspelled_column_is_named_with_the_closest_field(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"'Emial' is no field of module Contacts; did you mean 'Email'\?"):
        run(make(tmp_path, header="Last_Name,Emial"), context())
    assert spent(zoho_conn) == []


def test_an_insert_without_a_mandatory_field_fails_before_any_upload(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"mandatory field 'Last_Name' of Contacts is not in the file"):
        run(make(tmp_path, header="First_Name,Email"), context())
    assert spent(zoho_conn) == []


def test_an_update_needs_no_mandatory_field_but_a_unique_find_by(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"find_by 'First_Name' is not a unique field of Contacts"):
        run(make(tmp_path, header="First_Name,Email", operation="update", find_by="First_Name"), context())
    assert spent(zoho_conn) == []


def test_field_mappings_are_checked_instead_of_the_header(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    mappings = [{"api_name": "Last_Name", "index": 0}, {"api_name": "Emal", "index": 1}]
    with pytest.raises(AirflowFailException, match=r"'Emal' is no field of module Contacts; did you mean 'Email'\?"):
        run(make(tmp_path, header="a,b", field_mappings=mappings), context())


def test_bigin_reads_its_own_metadata(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("Last_Name,Emial\nv,w\n")
    operator = ZohoBiginBulkWriteOperator(task_id="load", module="Contacts", file=str(source), poll_interval=0.05)
    with pytest.raises(AirflowFailException, match=r"'Emial' is no field of module Contacts"):
        run(operator, context())
    assert any(r.path == "/bigin/v2/settings/fields" for r in zoho_conn.received_requests())
    assert spent(zoho_conn) == []


def test_preflight_false_leaves_the_check_to_zoho(zoho_conn: ZohoEmulator, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="MODULE_NOT_AVAILABLE"):
        run(make(tmp_path, module="Contcats", preflight=False), context())
    assert not any("/settings/" in r.path for r in zoho_conn.received_requests())


def test_metadata_refused_for_scope_only_warns(
    zoho_emulator: ZohoEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A client granted the bulk write scopes but not the settings ones.
    client = ClientCredentials("1000.NOSETTINGS", "secret-no-settings", "1000.refresh-no-settings")
    zoho_emulator.add_client(
        *client, scope="ZohoCRM.bulk.CREATE,ZohoCRM.modules.ALL,ZohoFiles.files.ALL,ZohoCRM.org.READ"
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", zoho_emulator.airflow_connection(client, timeout=5))
    with captured_log() as entries:
        summary = run(make(tmp_path), context())
    assert summary["state"] == "COMPLETED"
    assert "could not check the input against Zoho's metadata" in "\n".join(entries)
    assert "OAUTH_SCOPE_MISMATCH" in "\n".join(entries)
