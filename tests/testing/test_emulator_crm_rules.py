"""Zoho's rules, not ours: the emulator's CRM and Bigin account refuses bulk writes as Zoho does, over HTTP.

The expectations come from Zoho's pages and OpenAPI files (``docs/zoho-api.md``, "Creating jobs"; the
crm-oas v8.0 ``createBulkWriteJob`` 400 variants; module-meta.html and field-meta.html), not from the
emulator's own tables.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import CRM_MODULES_ADMIN_PATH, ORG_ZGID
from airflow_provider_zoho.testing.server import ADMIN_PREFIX
from tests.testing.emulator_calls import new_token

CRM = {"upload": "/crm/v8/upload", "create": "/crm/bulk/v8/write", "settings": "/crm/v8/settings"}
BIGIN = {"upload": "/bigin/v2/upload", "create": "/bigin/bulk/v2/write", "settings": "/bigin/v2/settings"}
CONTACTS = "Last_Name,First_Name,Email\nBoyle,Pat,pat@example.com\nShaw,Sam,sam@example.com\nLee,Kim,kim@example.com\n"


class Zoho:
    """A test's client of the emulated CRM (or Bigin): a session with a token, and the calls a load makes."""

    def __init__(self, emulator: ZohoEmulator, paths: dict[str, str] = CRM) -> None:
        self.emulator = emulator
        self.paths = paths
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy
        self.session.headers["Authorization"] = f"Zoho-oauthtoken {new_token(emulator)}"

    def url(self, path: str) -> str:
        return self.emulator.base_url + path

    def upload(self, text: str, headers: dict[str, str] | None = None) -> requests.Response:
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w") as archive:
            archive.writestr("Contacts.csv", text)
        sent = {"feature": "bulk-write", "X-CRM-ORG": ORG_ZGID} if headers is None else headers
        files = {"file": ("Contacts.zip", data.getvalue(), "application/zip")}
        return self.session.post(self.url(self.paths["upload"]), files=files, headers=sent, timeout=10)

    def file_id(self, text: str = CONTACTS) -> str:
        reply = self.upload(text)
        assert reply.status_code == 200, reply.text
        file_id: str = reply.json()["details"]["file_id"]
        return file_id

    def create(self, operation: str = "insert", text: str = CONTACTS, **resource: Any) -> requests.Response:
        body = {
            "operation": operation,
            "resource": [
                {"type": "data", "module": {"api_name": "Contacts"}, "file_id": self.file_id(text), **resource}
            ],
        }
        return self.session.post(self.url(self.paths["create"]), json=body, timeout=10)

    def status(self, job_id: str) -> dict[str, Any]:
        """Poll the job until COMPLETED (the default script walks IN PROGRESS, COMPLETED)."""
        url = self.url(self.paths["create"] + f"/{job_id}")
        for _ in range(10):
            body: dict[str, Any] = self.session.get(url, timeout=10).json()
            if body["status"] == "COMPLETED":
                return body
        raise AssertionError(f"job {job_id} never completed: {body}")

    def result(self, job_id: str) -> tuple[requests.Response, list[dict[str, str]]]:
        reply = self.session.get(self.status(job_id)["result"]["download_url"], timeout=10)
        with zipfile.ZipFile(io.BytesIO(reply.content)) as archive:
            [name] = archive.namelist()
            rows = list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        return reply, rows

    def counts(self, job_id: str) -> dict[str, int]:
        file = self.status(job_id)["resource"][0]["file"]
        return {key: file[key] for key in ("added_count", "updated_count", "skipped_count", "total_count")}


@pytest.fixture
def zoho(zoho_emulator: ZohoEmulator) -> Iterator[Zoho]:
    client = Zoho(zoho_emulator)
    yield client
    client.session.close()


def refusal(reply: requests.Response) -> str:
    """The code of a CRM error answer, after checking its shape (docs/zoho-api.md, "Error bodies")."""
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert set(body) == {"code", "details", "message", "status"}, body
    assert body["status"] == "error", body
    code: str = body["code"]
    return code


# -- the metadata APIs ---------------------------------------------------------------------------------------
def test_settings_modules_lists_zoho_s_standard_modules(zoho: Zoho) -> None:
    body = zoho.session.get(zoho.url("/crm/v8/settings/modules"), timeout=10).json()
    modules = {m["api_name"]: m for m in body["modules"]}
    assert {"Leads", "Contacts", "Accounts", "Deals"} <= set(modules)
    contacts = modules["Contacts"]
    assert contacts["api_supported"] is True
    assert (contacts["module_name"], contacts["plural_label"]) == ("Contacts", "Contacts")


def test_settings_fields_names_mandatory_and_unique_fields(zoho: Zoho) -> None:
    reply = zoho.session.get(zoho.url("/crm/v8/settings/fields"), params={"module": "Contacts"}, timeout=10)
    fields = {f["api_name"]: f for f in reply.json()["fields"]}
    assert {"Last_Name", "First_Name", "Email", "Description"} <= set(fields)
    assert fields["Last_Name"]["system_mandatory"] is True
    assert fields["First_Name"]["system_mandatory"] is False
    assert fields["Email"]["data_type"] == "email"
    assert fields["Email"]["unique"]
    assert not fields["First_Name"]["unique"]
    assert all(isinstance(f["field_label"], str) for f in fields.values())


def test_settings_fields_of_an_unknown_module_is_zoho_s_invalid_module(zoho: Zoho) -> None:
    reply = zoho.session.get(zoho.url("/crm/v8/settings/fields"), params={"module": "Contcts"}, timeout=10)
    assert refusal(reply) == "INVALID_MODULE"
    reply = zoho.session.get(zoho.url("/crm/v8/settings/fields"), timeout=10)
    assert refusal(reply) == "REQUIRED_PARAM_MISSING"


def test_bigin_has_its_own_modules(zoho_emulator: ZohoEmulator) -> None:
    bigin = Zoho(zoho_emulator, BIGIN)
    modules = {
        m["api_name"] for m in bigin.session.get(bigin.url("/bigin/v2/settings/modules"), timeout=10).json()["modules"]
    }
    assert {"Contacts", "Accounts", "Pipelines"} <= modules
    assert "Leads" not in modules
    reply = bigin.session.get(bigin.url("/bigin/v2/settings/fields"), params={"module": "Pipelines"}, timeout=10)
    mandatory = {f["api_name"] for f in reply.json()["fields"] if f["system_mandatory"]}
    assert {"Deal_Name", "Stage"} <= mandatory


def test_metadata_needs_a_token(zoho_emulator: ZohoEmulator) -> None:
    reply = requests.get(zoho_emulator.base_url + "/crm/v8/settings/modules", timeout=10)
    assert reply.status_code == 401
    assert reply.json()["code"] == "INVALID_TOKEN"


def test_a_declared_module_is_served_and_loadable(zoho: Zoho) -> None:
    assert CRM_MODULES_ADMIN_PATH.startswith(ADMIN_PREFIX)
    module = {
        "api_name": "Vendors_X",
        "fields": [{"api_name": "Vendor_Name", "system_mandatory": True}, {"api_name": "Code", "unique": True}, "Note"],
    }
    reply = requests.post(zoho.url(CRM_MODULES_ADMIN_PATH), json={"product": "crm", "modules": [module]}, timeout=10)
    assert reply.json() == {"ok": True, "modules": ["Vendors_X"]}
    modules = zoho.session.get(zoho.url("/crm/v8/settings/modules"), timeout=10).json()["modules"]
    assert "Vendors_X" in {m["api_name"] for m in modules}
    body = {
        "operation": "insert",
        "resource": [
            {
                "type": "data",
                "module": {"api_name": "Vendors_X"},
                "file_id": zoho.file_id("Vendor_Name,Code\nAcme,A1\n"),
            }
        ],
    }
    assert zoho.session.post(zoho.url(CRM["create"]), json=body, timeout=10).status_code == 201
    bad = requests.post(zoho.url(CRM_MODULES_ADMIN_PATH), json={"modules": [{"api_name": "X"}]}, timeout=10)
    assert bad.status_code == 400
    assert bad.json()["ok"] is False


def test_a_module_declared_in_python(zoho: Zoho) -> None:
    zoho.emulator.writes.account.declare_module("crm", {"api_name": "Visits", "fields": ["Place"]})
    reply = zoho.session.get(zoho.url("/crm/v8/settings/fields"), params={"module": "Visits"}, timeout=10)
    assert "Place" in {f["api_name"] for f in reply.json()["fields"]}


# -- what a create refuses -----------------------------------------------------------------------------------
def test_an_unknown_module_is_module_not_available(zoho: Zoho) -> None:
    assert refusal(zoho.create(module={"api_name": "Contcts"})) == "MODULE_NOT_AVAILABLE"


def test_a_plain_string_module_is_refused_in_v8(zoho: Zoho) -> None:
    assert refusal(zoho.create(module="Contacts")) == "INVALID_DATA"


def test_an_unknown_field_in_the_mappings_or_the_header(zoho: Zoho) -> None:
    mappings = [{"api_name": "Last_Name", "index": 0}, {"api_name": "Emial", "index": 2}]
    reply = zoho.create(field_mappings=mappings)
    assert refusal(reply) == "INVALID_DATA"
    assert reply.json()["details"]["api_name"] == "Emial"
    reply = zoho.create(text="Last_Name,Emial\nBoyle,pat@example.com\n")
    assert refusal(reply) == "INVALID_DATA"
    assert reply.json()["details"]["api_name"] == "Emial"


def test_a_column_index_outside_the_file(zoho: Zoho) -> None:
    reply = zoho.create(field_mappings=[{"api_name": "Last_Name", "index": 0}, {"api_name": "Email", "index": 3}])
    assert refusal(reply) == "INVALID_DATA"
    assert reply.json()["details"]["index"] == 3


def test_a_mapping_without_index(zoho: Zoho) -> None:
    reply = zoho.create(field_mappings=[{"api_name": "Last_Name", "index": 0}, {"api_name": "Email"}])
    assert refusal(reply) == "MISSING_REQUIRED_KEY"
    assert reply.json()["details"]["json_path"] == "$.resource[0].field_mappings[1].index"


@pytest.mark.parametrize("operation", ["insert", "upsert"])
def test_a_mandatory_field_not_mapped(zoho: Zoho, operation: str) -> None:
    find_by = {"find_by": "Email"} if operation == "upsert" else {}
    reply = zoho.create(operation, field_mappings=[{"api_name": "Email", "index": 2}], **find_by)
    assert refusal(reply) == "MANDATORY_FIELDS_NOT_MAPPED"
    reply = zoho.create(operation, text="First_Name,Email\nPat,pat@example.com\n", **find_by)
    assert refusal(reply) == "MANDATORY_FIELDS_NOT_MAPPED"


def test_an_update_need_not_map_mandatory_fields(zoho: Zoho) -> None:
    reply = zoho.create("update", text="Email,First_Name\npat@example.com,Pat\n", find_by="Email")
    assert reply.status_code == 201, reply.text


def test_find_by_must_be_id_or_unique(zoho: Zoho) -> None:
    assert refusal(zoho.create("upsert", find_by="First_Name")) == "INVALID_DATA"
    assert refusal(zoho.create("upsert")) == "MANDATORY_NOT_FOUND"


def test_a_json_body_sent_as_text_plain(zoho: Zoho) -> None:
    body = (
        '{"operation": "insert", "resource": [{"type": "data", "module": {"api_name": "Contacts"}, '
        f'"file_id": "{zoho.file_id()}"}}]}}'
    )
    reply = zoho.session.post(zoho.url(CRM["create"]), data=body, headers={"Content-Type": "text/plain"}, timeout=10)
    assert refusal(reply) == "REQUEST_BODY_NOT_SUPPORTED"


@pytest.mark.parametrize("missing", ["feature", "X-CRM-ORG"])
def test_an_upload_missing_a_header_answers_crm_s_json_error(zoho: Zoho, missing: str) -> None:
    headers = {"feature": "bulk-write", "X-CRM-ORG": ORG_ZGID}
    del headers[missing]
    reply = zoho.upload(CONTACTS, headers)
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.status_code == 400, reply.text
    body = reply.json()
    # CRM's error keys, and the x-error key Zoho's CRM SDK 8.0 models for this refusal.
    assert (body["status"], body["code"]) == ("error", "INVALID_REQUEST")
    assert body["x-error"] == "check if headers [feature, X-CRM-ORG] are present and valid"
    assert missing in reply.headers["x-error"]


def test_an_empty_mandatory_value_skips_the_record(zoho: Zoho) -> None:
    reply = zoho.create(text="Last_Name,Email\n,pat@example.com\nShaw,sam@example.com\n")
    _, rows = zoho.result(reply.json()["details"]["id"])
    assert [(r["STATUS"], r["ERRORS"]) for r in rows] == [("skipped", "MANDATORY_NOT_FOUND-Last_Name"), ("added", "")]


# -- records keep their ids ----------------------------------------------------------------------------------
def test_insert_then_update_by_id(zoho: Zoho) -> None:
    inserted = zoho.create().json()["details"]["id"]
    download, rows = zoho.result(inserted)
    assert download.headers["Content-Disposition"] == f'attachment; filename="{inserted}.zip"'
    ids = [row["RECORD_ID"] for row in rows]
    assert all(ids)
    assert len(set(ids)) == 3
    assert zoho.counts(inserted)["added_count"] == 3
    text = "id,First_Name\n" + "".join(f"{record_id},New{n}\n" for n, record_id in enumerate(ids))
    updated = zoho.create("update", text=text, find_by="id").json()["details"]["id"]
    assert zoho.counts(updated) == {"added_count": 0, "updated_count": 3, "skipped_count": 0, "total_count": 3}
    _, rows = zoho.result(updated)
    assert [row["RECORD_ID"] for row in rows] == ids
    records = zoho.emulator.writes.account.records("crm", "Contacts")
    assert [records[record_id]["First_Name"] for record_id in ids] == ["New0", "New1", "New2"]
    assert records[ids[0]]["Last_Name"] == "Boyle"


def test_update_of_an_unknown_id_is_skipped(zoho: Zoho) -> None:
    job = zoho.create("update", text="id,First_Name\n999,Pat\n", find_by="id").json()["details"]["id"]
    _, [row] = zoho.result(job)
    assert (row["STATUS"], row["ERRORS"]) == ("skipped", "RESOURCE_NOT_FOUND-id")


def test_insert_then_upsert_by_a_unique_field(zoho: Zoho) -> None:
    inserted = zoho.create().json()["details"]["id"]
    _, first = zoho.result(inserted)
    upserted = zoho.create("upsert", find_by="Email").json()["details"]["id"]
    assert zoho.counts(upserted) == {"added_count": 0, "updated_count": 3, "skipped_count": 0, "total_count": 3}
    _, again = zoho.result(upserted)
    assert [r["RECORD_ID"] for r in again] == [r["RECORD_ID"] for r in first]
    assert {r["STATUS"] for r in again} == {"updated"}
    more = zoho.create("upsert", text="Last_Name,Email\nNew,new@example.com\nBoyle,PAT@example.com\n", find_by="Email")
    assert zoho.counts(more.json()["details"]["id"])["added_count"] == 1
    assert zoho.counts(more.json()["details"]["id"])["updated_count"] == 1


def test_bigin_records_are_its_own(zoho_emulator: ZohoEmulator) -> None:
    crm, bigin = Zoho(zoho_emulator), Zoho(zoho_emulator, BIGIN)
    crm.create()
    job = bigin.create("upsert", find_by="Email").json()["details"]["id"]
    assert bigin.counts(job)["added_count"] == 3
