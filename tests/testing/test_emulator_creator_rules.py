"""Zoho's rules in the emulator's Creator, over HTTP: unknown apps and forms, unknown header names, the meta APIs.

Expectations from docs/zoho-api.md ("Error bodies": 2892/2893 app/form not found) and Creator's v2.1 meta pages
(https://www.zoho.com/creator/help/api/v2.1/get-applications.html, get-forms.html, get-fields.html).
"""

from __future__ import annotations

import json
import uuid

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.creator_account import CreatorApp, CreatorField, CreatorForm
from tests.testing.emulator_calls import Reply, http, new_token

OWNER, APP, FORM = "jason18", "zylker-store", "Employee_Details"


def bulk(emu: ZohoEmulator, owner: str = OWNER, app: str = APP, form: str = FORM) -> str:
    return f"{emu.base_url}/creator/v2.1/bulk/{owner}/{app}/form/{form}/insert"


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}", **extra}


def create(emu: ZohoEmulator, token: str, **where: str) -> Reply:
    return http("POST", bulk(emu, **where), headers=auth(token))


def upload(emu: ZohoEmulator, token: str, job_id: str, csv_text: str) -> Reply:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="e.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{boundary}--\r\n"
    ).encode()
    headers = auth(token, **{"Content-Type": f"multipart/form-data; boundary={boundary}"})
    return http("POST", f"{bulk(emu)}/{job_id}", headers=headers, data=body)


def meta(emu: ZohoEmulator, token: str, path: str, **headers: str) -> Reply:
    return http("GET", f"{emu.base_url}/creator/v2.1/meta/{path}", headers=auth(token, **headers))


def test_a_create_for_an_unknown_app_is_refused_with_2892(zoho_emulator: ZohoEmulator) -> None:
    reply = create(zoho_emulator, new_token(zoho_emulator), app="zylker-shop")
    assert reply.status == 404
    assert reply.json()["code"] == 2892
    assert "zylker-shop" in reply.json()["message"]
    assert not zoho_emulator.creator_inserts.created


def test_a_create_for_an_unknown_form_is_refused_with_2893(zoho_emulator: ZohoEmulator) -> None:
    reply = create(zoho_emulator, new_token(zoho_emulator), form="Employee_Detail")
    assert (reply.status, reply.json()["code"]) == (404, 2893)
    assert not zoho_emulator.creator_inserts.created


def test_a_create_for_a_known_form_is_taken(zoho_emulator: ZohoEmulator) -> None:
    reply = create(zoho_emulator, new_token(zoho_emulator))
    assert (reply.status, reply.json()["code"]) == (200, 3000)


def test_an_upload_naming_no_field_of_the_form_is_refused(zoho_emulator: ZohoEmulator) -> None:
    token = new_token(zoho_emulator)
    job_id = create(zoho_emulator, token).json()["details"]["job_id"]
    reply = upload(zoho_emulator, token, job_id, "Name.first_name,Emial\nPat,pat@example.com\n")
    assert reply.status == 400
    assert "Emial" in reply.json()["message"]
    assert zoho_emulator.creator_inserts.created[job_id].csv_text is None
    # the job still waits for its file: a right one is taken
    reply = upload(zoho_emulator, token, job_id, "Name.first_name,Email\nPat,pat@example.com\n")
    assert (reply.status, reply.json()["code"]) == (200, 3000)


def test_a_composite_fields_part_must_be_one_of_its_subfields(zoho_emulator: ZohoEmulator) -> None:
    token = new_token(zoho_emulator)
    job_id = create(zoho_emulator, token).json()["details"]["job_id"]
    reply = upload(zoho_emulator, token, job_id, "Name.firstname,Email\nPat,pat@example.com\n")
    assert reply.status == 400
    assert "Name.firstname" in reply.json()["message"]


def test_the_applications_api_lists_the_accounts_apps(zoho_emulator: ZohoEmulator) -> None:
    reply = meta(zoho_emulator, new_token(zoho_emulator), "applications")
    assert reply.status == 200
    body = reply.json()
    assert body["code"] == 3000
    assert {"application_name": "Zylker Store", "link_name": APP, "workspace_name": OWNER}.items() <= body[
        "applications"
    ][0].items()


def test_the_forms_api_lists_link_and_display_names(zoho_emulator: ZohoEmulator) -> None:
    body = meta(zoho_emulator, new_token(zoho_emulator), f"{OWNER}/{APP}/forms").json()
    assert body["code"] == 3000
    assert {"link_name": FORM, "display_name": "Employee Details"}.items() <= body["forms"][0].items()
    assert "Contacts" in [form["link_name"] for form in body["forms"]]


def test_the_fields_api_lists_fields_with_mandatory_and_subfields(zoho_emulator: ZohoEmulator) -> None:
    body = meta(zoho_emulator, new_token(zoho_emulator), f"{OWNER}/{APP}/form/{FORM}/fields").json()
    assert body["code"] == 3000
    fields = {field["link_name"]: field for field in body["fields"]}
    assert fields["Email"]["mandatory"] is True
    assert {"link_name", "display_name", "type", "mandatory"} <= set(fields["Email"])
    assert "first_name" in [sub["link_name"] for sub in fields["Name"]["subfields"]]


def test_the_meta_apis_refuse_unknown_apps_and_forms(zoho_emulator: ZohoEmulator) -> None:
    token = new_token(zoho_emulator)
    assert meta(zoho_emulator, token, f"{OWNER}/nope/forms").json()["code"] == 2892
    assert meta(zoho_emulator, token, f"{OWNER}/{APP}/form/Nope/fields").json()["code"] == 2893


def test_the_meta_apis_need_a_valid_token(zoho_emulator: ZohoEmulator) -> None:
    reply = meta(zoho_emulator, "not-a-token", "applications")
    assert reply.status == 401


def test_an_app_declared_over_the_admin_api_is_served(zoho_emulator: ZohoEmulator) -> None:
    app = {
        "owner": "pat",
        "link_name": "hr",
        "forms": {"Leave": [{"link_name": "Days", "type": "Number", "mandatory": True}, "Reason"]},
        "environments": ["development"],
    }
    admin = http(
        "POST",
        f"{zoho_emulator.base_url}/__emulator__/creator_apps",
        data=json.dumps(app).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert admin.status == 200
    token = new_token(zoho_emulator)
    fields = meta(zoho_emulator, token, "pat/hr/form/Leave/fields", environment="development").json()["fields"]
    assert [(f["link_name"], f["mandatory"]) for f in fields] == [("Days", True), ("Reason", False)]
    # the environment header applies: the app is published to development only
    assert meta(zoho_emulator, token, "pat/hr/forms").json()["code"] in (1040, 2892)


def test_the_admin_api_refuses_a_malformed_app(zoho_emulator: ZohoEmulator) -> None:
    reply = http(
        "POST",
        f"{zoho_emulator.base_url}/__emulator__/creator_apps",
        data=json.dumps({"owner": "pat"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 400
    assert reply.json()["ok"] is False


def test_an_app_declared_in_python_takes_creates(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.creator_inserts.account.declare_app(
        CreatorApp("pat", "hr", forms=(CreatorForm("Leave", fields=(CreatorField("Days", mandatory=True),)),))
    )
    reply = create(zoho_emulator, new_token(zoho_emulator), owner="pat", app="hr", form="Leave")
    assert reply.json()["code"] == 3000
