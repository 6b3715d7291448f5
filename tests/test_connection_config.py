from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_zoho.connection_config import ZohoConnectionConfig, ZohoConnectionError
from airflow_provider_zoho.data_centers import Service


def _config(**overrides: Any) -> ZohoConnectionConfig:
    fields: dict[str, Any] = {
        "login": "client-id",
        "password": "client-secret",
        "host": None,
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
