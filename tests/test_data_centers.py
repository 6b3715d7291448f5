from __future__ import annotations

import pytest

from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.data_centers import DATA_CENTERS, Service, get_data_center

EXPECTED_HOSTS = {
    "us": ("accounts.zoho.com", "www.zohoapis.com", "analyticsapi.zoho.com"),
    "eu": ("accounts.zoho.eu", "www.zohoapis.eu", "analyticsapi.zoho.eu"),
    "in": ("accounts.zoho.in", "www.zohoapis.in", "analyticsapi.zoho.in"),
    "au": ("accounts.zoho.com.au", "www.zohoapis.com.au", "analyticsapi.zoho.com.au"),
    "jp": ("accounts.zoho.jp", "www.zohoapis.jp", "analyticsapi.zoho.jp"),
    "cn": ("accounts.zoho.com.cn", "www.zohoapis.com.cn", "analyticsapi.zoho.com.cn"),
    "ca": ("accounts.zohocloud.ca", "www.zohoapis.ca", "analyticsapi.zohocloud.ca"),
    "sa": ("accounts.zoho.sa", "www.zohoapis.sa", "analyticsapi.zoho.sa"),
    "uk": ("accounts.zoho.uk", "www.zohoapis.uk", None),
}


def _config(data_center: str, host: str | None = None) -> ZohoConnectionConfig:
    return ZohoConnectionConfig.from_fields(
        "zoho_test",
        login="client",
        password="secret",
        host=host,
        extra={"refresh_token": "refresh", "data_center": data_center},
    )


def test_table_covers_the_nine_data_centers() -> None:
    assert set(DATA_CENTERS) == set(EXPECTED_HOSTS)


@pytest.mark.parametrize("code", sorted(EXPECTED_HOSTS))
def test_urls_for_each_data_center(code: str) -> None:
    accounts, api, analytics = EXPECTED_HOSTS[code]
    config = _config(code.upper())  # codes are case-insensitive
    assert config.base_url(Service.ACCOUNTS) == f"https://{accounts}"
    assert config.base_url(Service.API) == f"https://{api}"
    if analytics is None:
        with pytest.raises(ValueError, match="no documented analytics host"):
            config.base_url(Service.ANALYTICS)
    else:
        assert config.base_url(Service.ANALYTICS) == f"https://{analytics}"


@pytest.mark.parametrize("code", sorted(EXPECTED_HOSTS))
def test_host_override_replaces_every_host(code: str) -> None:
    config = _config(code, host="http://127.0.0.1:8080/")
    assert {config.base_url(service) for service in Service} == {"http://127.0.0.1:8080"}


def test_unknown_data_center_lists_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"Unknown Zoho data center 'mars': use one of us, eu, in, au, jp, cn, ca, sa, uk"
    ):
        get_data_center("mars")


@pytest.mark.parametrize(
    ("code", "upload_host", "zoho_host", "foreign_host"),
    [
        ("us", "content.zohoapis.com", "download-accl.zoho.com", "download.zohocrm.eu"),
        ("eu", "content.zohoapis.eu", "download.zohocrm.eu", "download.zohocrm.com"),
        ("au", "content.zohoapis.com.au", "download.zohocrm.com.au", "zohocrm.com.au.evil.example"),
        ("ca", "upload.zohocloud.ca", "download.zohocloud.ca", "zohocloud.com"),
        ("sa", "files.zoho.sa", "files.zoho.sa", "zoho.sa.example"),
    ],
)
def test_upload_host_and_zoho_domains_per_data_center(
    code: str, upload_host: str, zoho_host: str, foreign_host: str
) -> None:
    dc = get_data_center(code)
    assert dc.upload_host == upload_host
    assert dc.is_zoho_host(dc.upload_host)
    assert dc.is_zoho_host(dc.api_host)
    assert dc.is_zoho_host(zoho_host.upper())
    assert not dc.is_zoho_host(foreign_host)


def test_every_data_center_trusts_its_own_hosts() -> None:
    for dc in DATA_CENTERS.values():
        hosts = [dc.accounts_host, dc.api_host, dc.upload_host, *([dc.analytics_host] if dc.analytics_host else [])]
        assert all(dc.is_zoho_host(host) for host in hosts), dc.code
