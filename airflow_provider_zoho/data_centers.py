"""Zoho data centers and the hosts each product lives on there.

Zoho runs isolated data centers: a client registered in one DC cannot get tokens from another, and an
Analytics token from one DC is rejected by another with error 8535. The table is data so that a new DC is
one row, never a new branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Service(StrEnum):
    """The Zoho host families a request can go to."""

    ACCOUNTS = "accounts"
    API = "api"  # www.zohoapis.*: CRM, Bigin and Creator bulk APIs
    ANALYTICS = "analytics"


@dataclass(frozen=True)
class DataCenter:
    code: str
    accounts_host: str
    api_host: str
    analytics_host: str | None

    def host_for(self, service: Service) -> str:
        host = {
            Service.ACCOUNTS: self.accounts_host,
            Service.API: self.api_host,
            Service.ANALYTICS: self.analytics_host,
        }[service]
        if host is None:
            raise ValueError(
                f"Zoho data center {self.code!r} has no documented {service.value} host; "
                "set the connection's host to the base URL to use instead."
            )
        return host


def _dc(code: str, tld: str, *, accounts_domain: str = "zoho", analytics: bool = True) -> DataCenter:
    return DataCenter(
        code=code,
        accounts_host=f"accounts.{accounts_domain}.{tld}",
        api_host=f"www.zohoapis.{tld}",
        analytics_host=f"analyticsapi.{accounts_domain}.{tld}" if analytics else None,
    )


DATA_CENTERS: dict[str, DataCenter] = {
    dc.code: dc
    for dc in (
        _dc("us", "com"),
        _dc("eu", "eu"),
        _dc("in", "in"),
        _dc("au", "com.au"),
        _dc("jp", "jp"),
        _dc("cn", "com.cn"),
        # Canada's accounts and Analytics hosts are on zohocloud.ca, its API host on zohoapis.ca.
        DataCenter("ca", "accounts.zohocloud.ca", "www.zohoapis.ca", "analyticsapi.zohocloud.ca"),
        _dc("sa", "sa"),
        # UK: accounts.zoho.uk is documented; www.zohoapis.uk is unverified and no Analytics host is
        # documented at all, so Analytics in the UK DC needs the connection's host override.
        _dc("uk", "uk", analytics=False),
    )
}

DEFAULT_DATA_CENTER = "us"


def get_data_center(code: str) -> DataCenter:
    """Look up a DC by its code, case-insensitively, with an error that lists the valid codes."""
    normalized = code.strip().lower()
    try:
        return DATA_CENTERS[normalized]
    except KeyError:
        valid = ", ".join(DATA_CENTERS)
        raise ValueError(f"Unknown Zoho data center {code!r}: use one of {valid}.") from None
