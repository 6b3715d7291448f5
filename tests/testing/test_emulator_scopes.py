"""The emulator's OAuth scopes over real HTTP: tokens carry the scopes they were granted, and each call needs its own.

The expectations are written from Zoho's docs (``docs/zoho-api.md``, "Scopes per call" and "Error bodies"),
independently of the emulator's rule table: CRM and Bigin refuse with ``OAUTH_SCOPE_MISMATCH`` (401), Creator
with 2945 (HTTP 401), Analytics with 7301 ``SECURITY_NOT_PERMITTED`` (403, the emulator's stand-in: Zoho
documents no missing-scope code).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.oauth_scopes import DEFAULT_SCOPES, covers, parse_scopes
from tests.testing.emulator_calls import CLIENT, Reply, http, new_token

CREATOR_INSERT = "/creator/v2.1/bulk/owner/app/form/Orders/insert"
ANALYTICS_IMPORT = "/restapi/v2/bulk/workspaces/111/views/222/data"


def grant(emu: ZohoEmulator, scope: str | list[str] | None, code: str = "code-1") -> dict[str, Any]:
    """Exchange a grant code generated with ``scope``; return the token answer."""
    emu.add_grant_code(code, scope=scope)
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": CLIENT.client_id,
            "client_secret": CLIENT.client_secret,
            "code": code,
        }
    )
    reply = http(
        "POST",
        f"{emu.base_url}/oauth/v2/token",
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body: dict[str, Any] = reply.json()
    assert "access_token" in body, body
    return body


def token_with(emu: ZohoEmulator, scope: str, code: str = "code-1") -> str:
    token: str = grant(emu, scope, code)["access_token"]
    return token


def auth(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {token}", **more}


def bulk_write_create(emu: ZohoEmulator, token: str, module: str = "Leads") -> Reply:
    body = {"operation": "insert", "resource": [{"type": "data", "module": {"api_name": module}, "file_id": "nope"}]}
    return http(
        "POST",
        f"{emu.base_url}/crm/bulk/v8/write",
        data=json.dumps(body).encode(),
        headers=auth(token, **{"Content-Type": "application/json"}),
    )


def crm_refused(reply: Reply) -> bool:
    return reply.status == 401 and reply.json().get("code") == "OAUTH_SCOPE_MISMATCH"


def creator_refused(reply: Reply) -> bool:
    return reply.status == 401 and reply.json().get("code") == 2945


def analytics_refused(reply: Reply) -> bool:
    return reply.status == 403 and reply.json()["data"]["errorCode"] == 7301


def analytics_import(emu: ZohoEmulator, token: str) -> Reply:
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="FILE"; filename="a.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nName\r\nAda\r\n--{boundary}--\r\n"
    ).encode()
    config = urllib.parse.quote(json.dumps({"importType": "APPEND", "fileType": "csv", "autoIdentify": True}))
    return http(
        "POST",
        f"{emu.base_url}{ANALYTICS_IMPORT}?CONFIG={config}",
        data=body,
        headers=auth(token, **{"ZANALYTICS-ORGID": "555", "Content-Type": f"multipart/form-data; boundary={boundary}"}),
    )


# ---------------------------------------------------------------------------------------------------------
# The token answer and how scopes combine
# ---------------------------------------------------------------------------------------------------------
def test_token_answer_names_the_granted_scopes(zoho_emulator: ZohoEmulator) -> None:
    answer = grant(zoho_emulator, "ZohoCRM.bulk.CREATE, ZohoFiles.files.ALL")
    assert answer["scope"].split() == ["ZohoCRM.bulk.CREATE", "ZohoFiles.files.ALL"]
    # The refresh token the code yielded grants the same scopes, token after token.
    form = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": CLIENT.client_id,
            "client_secret": CLIENT.client_secret,
            "refresh_token": answer["refresh_token"],
        }
    )
    refreshed = http("POST", f"{zoho_emulator.base_url}/oauth/v2/token?{form}").json()
    assert refreshed["scope"] == answer["scope"]


def test_clients_added_without_scope_get_every_scope(zoho_emulator: ZohoEmulator) -> None:
    form = urllib.parse.urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": CLIENT.client_id,
            "client_secret": CLIENT.client_secret,
            "refresh_token": CLIENT.refresh_token,
        }
    )
    answer = http("POST", f"{zoho_emulator.base_url}/oauth/v2/token?{form}").json()
    assert tuple(answer["scope"].split()) == DEFAULT_SCOPES == ZohoEmulator.DEFAULT_SCOPES


def test_admin_api_takes_scope_for_clients_and_grant_codes(zoho_emulator: ZohoEmulator) -> None:
    base = zoho_emulator.base_url
    client = {"client_id": "c2", "client_secret": "s2", "refresh_token": "r2", "scope": "ZohoCreator.bulk.READ"}
    assert http("POST", f"{base}/__emulator__/clients", data=json.dumps(client).encode()).json() == {"ok": True}
    form = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "client_id": "c2", "client_secret": "s2", "refresh_token": "r2"}
    )
    assert http("POST", f"{base}/oauth/v2/token?{form}").json()["scope"] == "ZohoCreator.bulk.READ"
    code = {"code": "admin-code", "client_id": "c2", "scope": ["ZohoAnalytics.data.create", "ZohoAnalytics.data.read"]}
    assert http("POST", f"{base}/__emulator__/grant_codes", data=json.dumps(code).encode()).json()["ok"] is True
    form = urllib.parse.urlencode(
        {"grant_type": "authorization_code", "client_id": "c2", "client_secret": "s2", "code": "admin-code"}
    )
    assert http("POST", f"{base}/oauth/v2/token?{form}").json()["scope"] == (
        "ZohoAnalytics.data.create ZohoAnalytics.data.read"
    )
    refused = http("POST", f"{base}/__emulator__/grant_codes", data=json.dumps({"code": "x", "scope": 5}).encode())
    assert refused.status == 400


def test_all_covers_what_is_under_it() -> None:
    assert covers(["ZohoCRM.bulk.ALL"], "ZohoCRM.bulk.CREATE")
    assert covers(["ZohoCRM.modules.ALL"], "ZohoCRM.modules.Leads.CREATE")
    assert covers(["ZohoCRM.modules.Leads.ALL"], "ZohoCRM.modules.Leads.CREATE")
    assert not covers(["ZohoCRM.modules.Contacts.ALL"], "ZohoCRM.modules.Leads.CREATE")
    assert covers(["ZohoCRM.settings.ALL"], "ZohoCRM.settings.fields.READ")
    assert covers(["zohocrm.bulk.create"], "ZohoCRM.bulk.CREATE")
    assert covers(["ZohoAnalytics.fullaccess.all"], "ZohoAnalytics.data.create")
    assert not covers(["ZohoCRM.bulk.READ"], "ZohoCRM.bulk.CREATE")
    assert not covers(["ZohoBigin.bulk.ALL"], "ZohoCRM.bulk.CREATE")
    assert parse_scopes("a,b  c,,a") == ("a", "b", "c")
    with pytest.raises(ValueError, match="no scope"):
        parse_scopes(" , ")


# ---------------------------------------------------------------------------------------------------------
# Each product refuses a call without its scope, in its own words
# ---------------------------------------------------------------------------------------------------------
def test_crm_bulk_write_create_needs_the_bulk_and_the_module_scope(zoho_emulator: ZohoEmulator) -> None:
    no_bulk = token_with(zoho_emulator, "ZohoCRM.modules.ALL,ZohoFiles.files.ALL", "c1")
    refused = bulk_write_create(zoho_emulator, no_bulk)
    assert crm_refused(refused), refused
    assert refused.json() == {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "invalid oauth scope to access this URL",
        "status": "error",
    }
    other_module = token_with(zoho_emulator, "ZohoCRM.bulk.CREATE,ZohoCRM.modules.Contacts.ALL", "c2")
    assert crm_refused(bulk_write_create(zoho_emulator, other_module, "Leads"))
    assert not crm_refused(bulk_write_create(zoho_emulator, other_module, "Contacts"))
    # With both, the create goes on to the handler, which read the body too (the file id is unknown).
    both = token_with(zoho_emulator, "ZohoCRM.bulk.ALL,ZohoCRM.modules.Leads.ALL", "c3")
    reply = bulk_write_create(zoho_emulator, both)
    assert reply.status == 400, reply
    assert reply.json()["code"] in ("FILE_NOT_FOUND", "INVALID_FILE_ID"), reply


def test_crm_upload_needs_zoho_files(zoho_emulator: ZohoEmulator) -> None:
    token = token_with(zoho_emulator, "ZohoCRM.bulk.ALL,ZohoCRM.modules.ALL")
    reply = http(
        "POST",
        f"{zoho_emulator.base_url}/crm/v8/upload",
        data=b"zip",
        headers=auth(token, feature="bulk-write", **{"X-CRM-ORG": "1"}),
    )
    assert crm_refused(reply), reply
    bigin = http("POST", f"{zoho_emulator.base_url}/bigin/v2/upload", data=b"zip", headers=auth(token))
    assert crm_refused(bigin), bigin


def test_a_refused_status_get_still_counts(zoho_emulator: ZohoEmulator) -> None:
    zoho_emulator.add_job("crm_bulk_write", "42", ["IN PROGRESS"])
    files_only = token_with(zoho_emulator, "ZohoFiles.files.ALL", "c1")
    url = f"{zoho_emulator.base_url}/crm/bulk/v8/write/42"
    assert crm_refused(http("GET", url, headers=auth(files_only)))
    assert zoho_emulator.status_requests("42") == 1
    # crm-oas: the bulk write job GET takes any bulk scope, READ included.
    reader = token_with(zoho_emulator, "ZohoCRM.bulk.READ", "c2")
    assert http("GET", url, headers=auth(reader)).status == 200


def test_creator_start_needs_bulk_update(zoho_emulator: ZohoEmulator) -> None:
    base = zoho_emulator.base_url
    creator = token_with(zoho_emulator, "ZohoCreator.bulk.CREATE,ZohoCreator.bulk.READ")
    created = http("POST", base + CREATOR_INSERT, headers=auth(creator))
    assert created.status == 200, created
    assert created.json()["code"] == 3000, created
    job_id = created.json()["details"]["job_id"]
    start = json.dumps({"data": {"action": "Start"}}).encode()
    refused = http(
        "PATCH",
        f"{base}{CREATOR_INSERT}/{job_id}",
        data=start,
        headers=auth(creator, **{"Content-Type": "application/json"}),
    )
    assert creator_refused(refused), refused
    assert set(refused.json()) == {"code", "message"}
    assert http("GET", f"{base}{CREATOR_INSERT}/{job_id}", headers=auth(creator)).status == 200
    reader = token_with(zoho_emulator, "ZohoCreator.bulk.READ", "c2")
    assert creator_refused(http("POST", base + CREATOR_INSERT, headers=auth(reader)))


def test_analytics_import_needs_data_create(zoho_emulator: ZohoEmulator) -> None:
    reader = token_with(zoho_emulator, "ZohoAnalytics.data.read,ZohoAnalytics.metadata.read", "c1")
    refused = analytics_import(zoho_emulator, reader)
    assert analytics_refused(refused), refused
    assert refused.json()["status"] == "failure"
    assert refused.json()["summary"] == "SECURITY_NOT_PERMITTED"
    creator = token_with(zoho_emulator, "ZohoAnalytics.data.create", "c2")
    created = analytics_import(zoho_emulator, creator)
    # Past the scope check: the handler answers (here: the workspace is not one the emulator knows).
    assert not analytics_refused(created), created
    assert created.json()["data"]["errorCode"] == 7103, created
    # The org list needs ZohoAnalytics.metadata.read.
    orgs = http("GET", f"{zoho_emulator.base_url}/restapi/v2/orgs", headers=auth(creator))
    assert analytics_refused(orgs)
    assert http("GET", f"{zoho_emulator.base_url}/restapi/v2/orgs", headers=auth(reader)).status == 200


def test_a_token_with_every_scope_passes(zoho_emulator: ZohoEmulator) -> None:
    token = new_token(zoho_emulator)  # the default client: DEFAULT_SCOPES
    assert not crm_refused(bulk_write_create(zoho_emulator, token))
    created = http("POST", zoho_emulator.base_url + CREATOR_INSERT, headers=auth(token))
    job_id = created.json()["details"]["job_id"]
    start = json.dumps({"data": {"action": "Start"}}).encode()
    started = http(
        "PATCH",
        f"{zoho_emulator.base_url}{CREATOR_INSERT}/{job_id}",
        data=start,
        headers=auth(token, **{"Content-Type": "application/json"}),
    )
    assert not creator_refused(started), started
    assert not analytics_refused(analytics_import(zoho_emulator, token))


def test_an_invalid_token_is_still_answered_as_one(zoho_emulator: ZohoEmulator) -> None:
    reply = bulk_write_create(zoho_emulator, "1000.nope.nope")
    assert reply.status == 401
    assert reply.json()["code"] == "INVALID_TOKEN"
