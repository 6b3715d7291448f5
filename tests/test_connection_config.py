from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_zoho.connection_config import ZohoConnectionConfig, ZohoConnectionError
from airflow_provider_zoho.data_centers import Service


def _config(**overrides: Any) -> ZohoConnectionConfig:
    fields: dict[str, Any] = {
        "login": "client-id",
        "password": "client-secret",
        "host": None,
        "port": None,
        "schema": None,
        "extra": {"refresh_token": "refresh-token"},
    }
    fields.update(overrides)
    return ZohoConnectionConfig.from_fields("zoho_test", **fields)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"login": None}, "has no client id: set its Client ID"),
        ({"password": ""}, "has no client secret: set its Client Secret"),
        ({"extra": {}}, "has no refresh token: set the extra field 'refresh_token'"),
        ({"extra": {"refresh_token": "r", "data_center": "xx"}}, "Unknown Zoho data center 'xx'"),
        ({"extra": {"refresh_token": "r", "creator_environment": "prod"}}, "creator_environment must be one of"),
        ({"extra": {"refresh_token": "r", "timeout": "soon"}}, "'timeout' must be a positive number"),
        ({"host": "ftp://proxy"}, "host must be a base URL"),
        ({"host": "https://user:pass@proxy.example"}, "host must not contain credentials"),
    ],
)
def test_bad_connections_name_the_field_to_fix(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ZohoConnectionError, match=message):
        _config(**overrides)


def test_defaults_and_extras() -> None:
    config = _config(
        extra={
            "refresh_token": "r",
            "analytics_org_id": 12345,
            "creator_environment": "stage",
            "timeout": "7.5",
        }
    )
    assert config.data_center.code == "us"
    assert config.defaults == {"org_id": "12345", "environment": "stage"}
    assert config.request_timeout == 7.5


def test_prefixed_extras_of_old_forms_are_read() -> None:
    config = _config(extra={"extra__zoho__refresh_token": "r", "extra__zoho__data_center": "eu"})
    assert config.refresh_token == "r"
    assert config.base_url(Service.API) == "https://www.zohoapis.eu"


def test_host_without_scheme_is_https() -> None:
    assert _config(host="proxy.corp.example").base_url(Service.API) == "https://proxy.corp.example"


def test_repr_and_cache_key_hold_no_secret() -> None:
    config = _config()
    assert "client-secret" not in repr(config)
    assert "refresh-token" not in repr(config)
    assert "refresh-token" not in config.token_cache_key


def test_cache_key_separates_clients_refresh_tokens_and_accounts_hosts() -> None:
    base = _config().token_cache_key
    assert base == _config().token_cache_key
    assert base != _config(login="other").token_cache_key
    assert base != _config(extra={"refresh_token": "other"}).token_cache_key
    assert base != _config(extra={"refresh_token": "refresh-token", "data_center": "eu"}).token_cache_key


@pytest.mark.parametrize("blank", [None, ""])
def test_a_blank_timeout_from_the_form_means_the_default(blank: object) -> None:
    assert _config(extra={"refresh_token": "r", "timeout": blank}).request_timeout == 30.0


# -- host, port and schema ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        # What ``zoho://id:secret@127.0.0.1:8080/?...`` gives: the port in its own field, no scheme.
        ("127.0.0.1", 8080, "", "https://127.0.0.1:8080"),
        # ``zoho://id:secret@127.0.0.1:8080/http?...``: the URI's path is Airflow's schema field, the URL scheme.
        ("127.0.0.1", 8080, "http", "http://127.0.0.1:8080"),
        ("127.0.0.1", "8080", "HTTPS", "https://127.0.0.1:8080"),
        # ``zoho://http://id:secret@127.0.0.1:8080/?...``: the scheme stays in host, the port in its field.
        ("http://127.0.0.1", 8080, "", "http://127.0.0.1:8080"),
        # The emulator's own JSON connection, and the same port said twice.
        ("http://127.0.0.1:8080", None, None, "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080", 8080, "http", "http://127.0.0.1:8080"),
        ("proxy.corp.example/zoho/", None, "", "https://proxy.corp.example/zoho"),
        ("[::1]", 9000, "http", "http://[::1]:9000"),
        (None, None, "", None),
    ],
)
def test_port_and_schema_fields_are_honoured(host: str | None, port: object, schema: str | None, expected: str) -> None:
    config = _config(host=host, port=port, schema=schema)
    assert config.base_url_override == expected


@pytest.mark.parametrize(
    ("host", "port", "schema", "message"),
    [
        ("http://", None, None, "host 'http://' has no hostname"),
        ("https://:8080", None, None, "has no hostname"),
        ("proxy.example?x=1", None, None, "host must not contain a query"),
        ("https://proxy.example/#top", None, None, "host must not contain a query ('?') or fragment ('#')"),
        ("https://proxy.example/a?b#c", None, None, "host must not contain a query"),
        ("proxy.example\r\nX-Evil: 1", None, None, "host must not contain spaces or control characters"),
        ("proxy example", None, None, "host must not contain spaces"),
        ("proxy.example", "http", None, "port must be a whole number from 1 to 65535, not 'http'"),
        ("proxy.example", 0, None, "port must be a whole number from 1 to 65535"),
        ("proxy.example", 70000, None, "port must be a whole number from 1 to 65535"),
        ("proxy.example", True, None, "port must be a whole number from 1 to 65535"),
        ("proxy.example", 80.5, None, "port must be a whole number from 1 to 65535"),
        ("https://proxy.example:99999", None, None, "the port in host must be a whole number from 1 to 65535"),
        ("https://proxy.example:abc", None, None, "the port in host must be a whole number from 1 to 65535"),
        ("http://127.0.0.1:8080", 9090, None, "host says port 8080 but the port field says 9090"),
        ("proxy.example", None, "ftp", "schema must be http or https (the URL scheme for host)"),
        ("proxy.example", None, "zoho", "schema must be http or https"),
        ("https://proxy.example", None, "http", "host says https:// but the schema field says 'http'"),
        (None, 8080, None, "port and schema apply to host"),
        (None, None, "http", "port and schema apply to host"),
        ("ftp://proxy", None, None, "host must be a base URL"),
    ],
)
def test_misread_host_port_or_schema_is_rejected_saying_how_to_write_it(
    host: str | None, port: object, schema: str | None, message: str
) -> None:
    with pytest.raises(ZohoConnectionError, match=re.escape(message)) as rejected:
        _config(host=host, port=port, schema=schema)
    assert "'zoho_test'" in str(rejected.value)


def test_the_port_reaches_every_service_and_the_token_cache_key() -> None:
    config = _config(host="127.0.0.1", port=8080, schema="http")
    assert {config.base_url(service) for service in Service} == {"http://127.0.0.1:8080"}
    assert config.token_cache_key != _config(host="127.0.0.1", port=8081, schema="http").token_cache_key


# -- extra, timeout, and values that go into headers or the token form -------------------------------------------------
@pytest.mark.parametrize("extra", [["refresh_token", "r"], "refresh_token=r", 42, 4.2, True])
def test_extra_that_is_not_a_json_object_is_rejected(extra: object) -> None:
    with pytest.raises(ZohoConnectionError, match=r"extra must be a JSON object such as \{\"refresh_token\"") as bad:
        _config(extra=extra)
    assert type(extra).__name__ in str(bad.value)


@pytest.mark.parametrize("extra", [None, {}])
def test_null_or_empty_extra_asks_for_the_refresh_token(extra: object) -> None:
    with pytest.raises(ZohoConnectionError, match="has no refresh token: set the extra field 'refresh_token'"):
        _config(extra=extra)


@pytest.mark.parametrize(
    "timeout",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        "nan",
        "NaN",
        "inf",
        "-inf",
        "1e999",
        True,
        False,
        0,
        -1,
        [5],
        {"s": 5},
        1e10,
    ],
)
def test_timeout_must_be_a_finite_positive_number(timeout: object) -> None:
    with pytest.raises(ZohoConnectionError, match="extra 'timeout' must be a positive number of seconds"):
        _config(extra={"refresh_token": "r", "timeout": timeout})


@pytest.mark.parametrize(("timeout", "seconds"), [(7, 7.0), ("7.5", 7.5), (" 12 ", 12.0), (86400, 86400.0)])
def test_timeout_accepts_numbers_and_numeric_text(timeout: object, seconds: float) -> None:
    assert _config(extra={"refresh_token": "r", "timeout": timeout}).request_timeout == seconds


SECRET = "s3cr3t-VALUE"
CONTROL_CHARACTERS = ["\r\n", "\n", "\r", "\t", "\x00", "\x7f", "\x85"]


def _with(field_name: str, value: object) -> dict[str, Any]:
    """``from_fields`` arguments with one field (a form field or an extra) set to ``value``."""
    if field_name in ("login", "password"):
        return {field_name: value}
    return {"extra": {"refresh_token": "refresh-token", field_name: value}}


@pytest.mark.parametrize(
    ("field_name", "label"),
    [("login", "client id (login)"), ("password", "client secret (password)"), ("refresh_token", "refresh_token")],
)
@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_control_characters_in_credentials_are_rejected_without_echoing_them(
    field_name: str, label: str, control: str
) -> None:
    with pytest.raises(
        ZohoConnectionError, match=re.escape(f"{label} contains a line break or control character")
    ) as bad:
        _config(**_with(field_name, f"{SECRET}{control}X-Injected: 1"))
    assert SECRET not in str(bad.value)
    assert "Injected" not in str(bad.value)


@pytest.mark.parametrize("field_name", ["login", "password", "refresh_token"])
@pytest.mark.parametrize("value", [12345, ["a"], {"a": 1}, True])
def test_credentials_must_be_text(field_name: str, value: object) -> None:
    with pytest.raises(ZohoConnectionError, match="must be text"):
        _config(**_with(field_name, value))


@pytest.mark.parametrize(
    "org_id", ["555\r\nX-Evil: 1", "555\n", "555 777", "abc", "-5", "5.5", "\u0665\u0665", [555], {"id": 5}, True]
)
def test_analytics_org_id_must_be_zohos_numeric_id(org_id: object) -> None:
    with pytest.raises(ZohoConnectionError, match="analytics_org_id must be Zoho's numeric organization id"):
        _config(extra={"refresh_token": "r", "analytics_org_id": org_id})


@pytest.mark.parametrize(("org_id", "header"), [(55522777, "55522777"), (" 55522777 ", "55522777"), ("", None)])
def test_analytics_org_id_accepts_digits(org_id: object, header: str | None) -> None:
    assert _config(extra={"refresh_token": "r", "analytics_org_id": org_id}).analytics_org_id == header


@pytest.mark.parametrize("environment", ["stage\r\nX-Evil: 1", "stage\n", ["stage"], {"stage": 1}, 3])
def test_creator_environment_with_control_characters_or_not_text_is_rejected(environment: object) -> None:
    with pytest.raises(ZohoConnectionError, match="creator_environment must be one of development, stage"):
        _config(extra={"refresh_token": "r", "creator_environment": environment})


@pytest.mark.parametrize("data_center", [1, ["eu"], {"eu": 1}, True])
def test_data_center_that_is_not_text_is_rejected(data_center: object) -> None:
    with pytest.raises(ZohoConnectionError, match=r"data_center must be one of us, eu, .* as text, not a "):
        _config(extra={"refresh_token": "r", "data_center": data_center})


# -- what only job creation reads: crm_org_id and upload_host ----------------------------------------------------------
@pytest.mark.parametrize("org_id", ["6196138\r\nX-Evil: 1", "61 96", "zylker", "-5", "\u0665\u0665", [6196138], True])
def test_crm_org_id_must_be_the_numeric_zgid(org_id: object) -> None:
    with pytest.raises(ZohoConnectionError, match="extra crm_org_id must be the org's numeric zgid") as bad:
        _config(extra={"refresh_token": "r", "crm_org_id": org_id})
    assert "leave it empty to look it up" in str(bad.value)


@pytest.mark.parametrize(
    ("extra", "org_id"),
    [({"crm_org_id": 6196138}, "6196138"), ({"crm_org_id": " 6196138 "}, "6196138"), ({"crm_org_id": ""}, None)],
)
def test_crm_org_id_accepts_digits(extra: dict[str, Any], org_id: str | None) -> None:
    assert _config(extra={"refresh_token": "r", **extra}).crm_org_id == org_id


@pytest.mark.parametrize(
    "host",
    [
        "content.zohoapis.com",  # no scheme
        "ftp://files.example",
        "https://",
        "https://files.example/?token=1",
        "https://files.example/#x",
        "https://user:pass@files.example",
        "https://files.example:99999",
        "https://files.example\n",
        42,
    ],
)
def test_upload_host_must_be_a_base_url(host: object) -> None:
    with pytest.raises(ZohoConnectionError, match="extra upload_host must be a base URL such as https://content"):
        _config(extra={"refresh_token": "r", "upload_host": host})


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        (None, {}, "https://content.zohoapis.com"),
        (None, {"data_center": "eu"}, "https://content.zohoapis.eu"),
        (None, {"data_center": "ca"}, "https://upload.zohocloud.ca"),
        (None, {"data_center": "sa"}, "https://files.zoho.sa"),
        ("http://127.0.0.1:8080", {}, "http://127.0.0.1:8080"),  # the host override covers uploads too
        ("http://127.0.0.1:8080", {"upload_host": "https://files.example/up/"}, "https://files.example/up"),
        (None, {"extra__zoho__upload_host": "http://127.0.0.1:9"}, "http://127.0.0.1:9"),  # an old form's key
    ],
)
def test_where_uploads_go(host: str | None, extra: dict[str, Any], expected: str) -> None:
    assert _config(host=host, extra={"refresh_token": "r", **extra}).upload_base_url == expected
