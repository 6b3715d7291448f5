"""``zoho-airflow-auth --scopes-for``: the scope string for the operators and sensors a user names.

The string is built from ``airflow_provider_zoho.products``; each is checked against the emulator, whose own
scope table (``testing/oauth_scopes.py``) is written independently from Zoho's docs: a token granted exactly
the printed string must pass every call of the named operator, and nothing the emulator refuses.
"""

from __future__ import annotations

import io
import json
import urllib.parse

import pytest

from airflow_provider_zoho import auth
from airflow_provider_zoho.products import PRODUCTS
from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.oauth_scopes import SCOPE_RULES, missing_scopes, parse_scopes
from tests.testing.emulator_calls import CLIENT, http


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = auth.main(list(args), stdout=out, stderr=err)
    return code, out.getvalue().strip(), err.getvalue()


def test_the_scope_string_for_named_operators() -> None:
    code, out, err = run("--scopes-for", "ZohoCRMBulkWriteOperator", "ZohoCreatorBulkInsertOperator")
    assert (code, err) == (0, "")
    scopes = out.split(",")
    assert " " not in out  # the Generate Code box takes them comma-separated
    for needed in (
        "ZohoCRM.bulk.CREATE",
        "ZohoCRM.modules.ALL",
        "ZohoFiles.files.ALL",
        "ZohoCreator.bulk.CREATE",
        "ZohoCreator.bulk.UPDATE",
        "ZohoCreator.bulk.READ",
    ):
        assert needed in scopes
    assert len(scopes) == len(set(scopes))
    assert not any("{module}" in scope or "Analytics" in scope for scope in scopes)


def test_module_scopes_name_the_modules_given() -> None:
    code, out, _ = run("--scopes-for", "ZohoBiginBulkWriteOperator", "--module", "Contacts", "--module", "Deals")
    assert code == 0
    scopes = out.split(",")
    assert "ZohoBigin.modules.Contacts.ALL" in scopes
    assert "ZohoBigin.modules.Deals.ALL" in scopes
    assert "ZohoBigin.modules.ALL" not in scopes


def test_sensors_need_only_their_status_scope() -> None:
    assert run("--scopes-for", "ZohoCreatorBulkInsertJobSensor")[1] == "ZohoCreator.bulk.READ"
    assert run("--scopes-for", "ZohoAnalyticsImportJobSensor")[1] == "ZohoAnalytics.data.create"
    assert run("--scopes-for", "zohocrmbulkwritejobsensor")[1] == "ZohoCRM.bulk.CREATE"


def test_all_is_every_scope_of_every_product() -> None:
    code, out, _ = run("--scopes-for", "all")
    assert code == 0
    expected = {s.replace(".{module}", "") for p in PRODUCTS.values() for s in p.scope_list()}
    assert set(out.split(",")) == expected


def test_an_unknown_name_is_one_sentence_and_exit_1() -> None:
    code, out, err = run("--scopes-for", "ZohoCRMBulkWriteOperatr")
    assert (code, out) == (1, "")
    assert "ZohoCRMBulkWriteOperator" in err
    assert "all" in err


def test_every_operator_and_sensor_has_its_product_calls() -> None:
    for name, task in auth.TASK_CALLS.items():
        product = PRODUCTS[task.product]
        assert set(task.calls + task.checks) <= set(product.scopes), name
    assert "--scopes-for" in auth.parser().format_help()


# The calls each operator and sensor makes, as (method, path, JSON body or None), on the emulator.
_CRM_WRITE = json.dumps({"operation": "insert", "resource": [{"type": "data", "module": {"api_name": "Leads"}}]})
_CALLS: dict[str, list[tuple[str, str, str | None]]] = {
    "ZohoCRMBulkWriteOperator": [
        ("POST", "/crm/v8/upload", None),
        ("GET", "/crm/v8/org", None),
        ("POST", "/crm/bulk/v8/write", _CRM_WRITE),
        ("GET", "/crm/bulk/v8/write/1", None),
        ("GET", "/crm/v8/settings/modules", None),
        ("GET", "/crm/v8/settings/fields", None),
    ],
    "ZohoCRMBulkWriteJobSensor": [("GET", "/crm/bulk/v8/write/1", None)],
    "ZohoBiginBulkWriteOperator": [
        ("POST", "/bigin/v2/upload", None),
        ("POST", "/bigin/bulk/v2/write", _CRM_WRITE),
        ("GET", "/bigin/bulk/v2/write/1", None),
    ],
    "ZohoBiginBulkWriteJobSensor": [("GET", "/bigin/bulk/v2/write/1", None)],
    "ZohoAnalyticsImportOperator": [
        ("POST", "/restapi/v2/bulk/workspaces/1/views/2/data", None),
        ("POST", "/restapi/v2/bulk/workspaces/1/data", None),
        ("GET", "/restapi/v2/bulk/workspaces/1/importjobs/3", None),
        ("GET", "/restapi/v2/workspaces", None),
        ("GET", "/restapi/v2/views/2", None),
    ],
    "ZohoAnalyticsImportJobSensor": [("GET", "/restapi/v2/bulk/workspaces/1/importjobs/3", None)],
    "ZohoCreatorBulkInsertOperator": [
        ("POST", "/creator/v2.1/bulk/o/a/form/f/insert", None),
        ("POST", "/creator/v2.1/bulk/o/a/form/f/insert/9", None),
        ("PATCH", "/creator/v2.1/bulk/o/a/form/f/insert/9", None),
        ("GET", "/creator/v2.1/bulk/o/a/form/f/insert/9", None),
        ("GET", "/creator/v2.1/bulk/o/a/form/f/insert/9/result", None),
        ("GET", "/creator/v2.1/meta/o/a/form/f/fields", None),
    ],
    "ZohoCreatorBulkInsertJobSensor": [("GET", "/creator/v2.1/bulk/o/a/form/f/insert/9", None)],
}


@pytest.mark.parametrize("name", sorted(_CALLS))
@pytest.mark.parametrize("module", [None, "Leads"])
def test_the_printed_scopes_pass_the_emulators_rules(name: str, module: str | None) -> None:
    """The emulator's own table, from Zoho's docs, accepts every call with exactly the printed scopes."""
    granted = parse_scopes(auth.scope_string([name], [module] if module else []))
    assert granted is not None
    for method, path, body in _CALLS[name]:
        rule = next((r for r in SCOPE_RULES if r.match(method, path)), None)
        assert rule is not None, f"the emulator has no scope rule for {method} {path}"
        assert missing_scopes(rule, granted, (body or "").encode()) == [], (name, method, path)


def test_a_grant_code_with_the_printed_scopes_loads_over_http(zoho_emulator: ZohoEmulator) -> None:
    """End to end: the scope string, as a grant code's scope, yields a token the emulator lets write Leads."""
    scope = auth.scope_string(["ZohoCRMBulkWriteOperator"], ["Leads"])
    zoho_emulator.add_grant_code("g", scope=scope)
    form = urllib.parse.urlencode(
        {"grant_type": "authorization_code", "client_id": CLIENT.client_id, "client_secret": CLIENT.client_secret}
    )
    answer = http("POST", f"{zoho_emulator.base_url}/oauth/v2/token?{form}&code=g").json()
    assert answer["scope"].split() == scope.split(",")
    headers = {"Authorization": f"Zoho-oauthtoken {answer['access_token']}", "Content-Type": "application/json"}
    reply = http("POST", f"{zoho_emulator.base_url}/crm/bulk/v8/write", data=_CRM_WRITE.encode(), headers=headers)
    assert reply.json().get("code") != "OAUTH_SCOPE_MISMATCH", reply
    contacts = _CRM_WRITE.replace("Leads", "Contacts").encode()
    refused = http("POST", f"{zoho_emulator.base_url}/crm/bulk/v8/write", data=contacts, headers=headers)
    assert refused.json().get("code") == "OAUTH_SCOPE_MISMATCH"
