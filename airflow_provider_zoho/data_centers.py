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
    """One data center's hosts, and the domains whose hosts may receive its access token.

    ``upload_host`` takes the files a CRM or Bigin bulk write imports. ``zoho_domains`` are the registrable
    domains a result link Zoho hands out may point under (``download-accl.zoho.com``,
    ``download.zohocrm.com``): the token goes to their hosts over HTTPS, and nowhere else outside the
    connection's own overrides.
    """

    code: str
    accounts_host: str
    api_host: str
    analytics_host: str | None
    upload_host: str
    zoho_domains: tuple[str, ...]

    def host_for(self, service: Service) -> str:
        """Return this DC's host for ``service``, or raise ValueError where Zoho documents none (Analytics in UK).

        :param service: the host family a request goes to.
        :return: the host name, without a scheme.
        """
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

    def is_zoho_host(self, host: str) -> bool:
        """Tell whether ``host`` is one of this DC's Zoho domains or a host under one (``download.zohocrm.com``).

        :param host: a host name, compared case-insensitively.
        :return: True if the DC's access token may be sent there (over HTTPS).
        """
        host = host.lower()
        return any(host == domain or host.endswith("." + domain) for domain in self.zoho_domains)


# The domains every DC's Zoho hosts live under, its accounts domain added (zohocloud.ca in Canada): API hosts
# are on zohoapis.{tld}, result links on download-accl.zoho.{tld} or download.zohocrm.{tld} (docs/zoho-api.md,
# "Creating jobs", CRM v8 and Bigin v2 bulk write: Result).
_ZOHO_DOMAIN_STEMS = ("zoho", "zohocrm", "zohoapis")


def _dc(
    code: str,
    tld: str,
    *,
    accounts_domain: str = "zoho",
    analytics: bool = True,
    upload_host: str | None = None,
) -> DataCenter:
    """Build a DC whose hosts follow Zoho's pattern; uploads go to ``content.zohoapis.{tld}`` unless said otherwise."""
    stems = dict.fromkeys((*_ZOHO_DOMAIN_STEMS, accounts_domain))  # ordered, without repeats
    return DataCenter(
        code=code,
        accounts_host=f"accounts.{accounts_domain}.{tld}",
        api_host=f"www.zohoapis.{tld}",
        analytics_host=f"analyticsapi.{accounts_domain}.{tld}" if analytics else None,
        upload_host=upload_host or f"content.zohoapis.{tld}",
        zoho_domains=tuple(f"{stem}.{tld}" for stem in stems),
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
        # Canada's accounts, Analytics and upload hosts are on zohocloud.ca, its API host on zohoapis.ca.
        _dc("ca", "ca", accounts_domain="zohocloud", upload_host="upload.zohocloud.ca"),
        # Upload hosts that do not follow content.zohoapis.{tld} come from the file upload URLs of the data
        # center classes in Zoho's CRM SDK 8.0 (https://github.com/zoho/zohocrm-python-sdk-8.0; docs/zoho-api.md,
        # "Data centers").
        _dc("sa", "sa", upload_host="files.zoho.sa"),
        # UK: accounts.zoho.uk is documented; www.zohoapis.uk is unverified and no Analytics host is
        # documented at all, so Analytics in the UK DC needs the connection's host override.
        _dc("uk", "uk", analytics=False),
    )
}

DEFAULT_DATA_CENTER = "us"


def get_data_center(code: str) -> DataCenter:
    """Look up a DC by its code, case-insensitively, with an error that lists the valid codes.

    :param code: the connection's ``data_center`` (``us``, ``eu``, ``in``...); spaces around it are ignored.
    :return: the data center.
    :raises ValueError: for a code Zoho has no DC for.
    """
    normalized = code.strip().lower()
    try:
        return DATA_CENTERS[normalized]
    except KeyError:
        valid = ", ".join(DATA_CENTERS)
        raise ValueError(f"Unknown Zoho data center {code!r}: use one of {valid}.") from None
