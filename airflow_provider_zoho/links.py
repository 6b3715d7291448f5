"""Links from a task in Airflow's UI to what it loads or exports in Zoho's own UI, per data center.

Zoho documents no deep link to a bulk job, so a task links to what the job works on: the CRM module's list
view, the Bigin org, the Analytics table or workspace, the Creator form or report. The URL is built while
the task runs (``zoho_link``), pushed as the XCom ``zoho_link`` and logged with the job id; ``ZohoLink``
reads it back for the UI's button, the pattern Airflow 3 asks of providers. A part that is not known (no CRM
org id in the connection, say) gives no link at all, never a wrong one.

*Unverified*: the UI hosts and paths below come from community code and Zoho's help pages, not from an API
reference. Sources: the Bigin org URL ``https://bigin.zoho.com/bigin/org{org}`` is Zoho's help page
"Organization Details" (https://help.zoho.com/portal/en/kb/bigin/explore-settings/articles/organization-details);
the CRM list view ``/crm/org{org}/tab/{module}``, the Analytics ``/workspace/{ws}/view/{view}`` and the Creator
``creatorapp`` URLs are seen in the address bar of each product and in community code.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow_provider_zoho.compat import BaseOperatorLink, XCom
from airflow_provider_zoho.data_centers import DataCenter
from airflow_provider_zoho.products import PRODUCTS, ZohoProduct

#: The XCom key the link's URL is pushed under.
LINK_KEY = "zoho_link"

# Each target's product: its record (``products.py``) holds the UI host and the path, with the parts as
# placeholders.
_TARGET_PRODUCTS: Mapping[str, ZohoProduct] = {
    target: product for product in PRODUCTS.values() for target in product.ui_paths
}


def ui_host(product: str, data_center: DataCenter) -> str:
    """Return a product's UI host in a data center: ``crm.zoho.eu``, ``analytics.zohocloud.ca``...

    The UI lives under the accounts host's domain (``accounts.zoho.eu`` -> ``zoho.eu``).

    :param product: ``crm``, ``bigin``, ``analytics`` or ``creator``.
    :param data_center: the connection's data center.
    :return: the host name.
    """
    domain = data_center.accounts_host.removeprefix("accounts.")
    return f"{PRODUCTS[product].ui_host_stem}.{domain}"


def zoho_link(target: str, data_center: DataCenter, parts: Mapping[str, Any]) -> str | None:
    """Return the URL of ``target`` in Zoho's UI, or None when a part it needs is missing.

    :param target: ``crm_module``, ``bigin_org``, ``analytics_view``, ``analytics_workspace``,
        ``creator_form`` or ``creator_report``.
    :param data_center: the connection's data center.
    :param parts: the values of the target's parts (``org_id``, ``module``...); each is quoted into one segment.
    :return: the URL, or None.
    """
    product = _TARGET_PRODUCTS[target]
    path = product.ui_paths[target]
    needed = [name for _, name, _, _ in string.Formatter().parse(path) if name]
    values = {name: parts.get(name) for name in needed}
    if any(value in (None, "") for value in values.values()):
        return None
    quoted = {name: quote(str(value), safe="") for name, value in values.items()}
    return f"https://{ui_host(product.name, data_center)}{path.format(**quoted)}"


# Where each kind's jobs are shown, most precise first: the first target whose parts are all known wins.
_KIND_TARGETS: Mapping[str, tuple[str, ...]] = {
    "crm_bulk_write": ("crm_module", "crm_org"),
    "crm_bulk_read": ("crm_module", "crm_org"),
    "bigin_bulk_write": ("bigin_org",),
    "bigin_bulk_read": ("bigin_org",),
    "analytics_import": ("analytics_view", "analytics_workspace"),
    "analytics_export": ("analytics_view", "analytics_workspace"),
    "creator_bulk_insert": ("creator_form",),
    "creator_bulk_read": ("creator_report",),
}


def job_link(kind: str, data_center: DataCenter, parts: Mapping[str, Any]) -> str | None:
    """Return the URL of what a job of ``kind`` works on, or None (a kind of a user's own, or parts missing).

    :param kind: the job kind's name.
    :param data_center: the connection's data center.
    :param parts: what the task knows: its coordinates, ``org_id``, ``module``, ``view_id``...
    :return: the URL of the most precise target whose parts are known, or None.
    """
    for target in _KIND_TARGETS.get(kind, ()):
        if (url := zoho_link(target, data_center, parts)) is not None:
            return url
    return None


def push_link(context: Mapping[str, Any], url: str | None) -> None:
    """Push the task's link as the XCom ``zoho_link``, for its button (nothing without a URL or a task instance).

    :param context: the task's context.
    :param url: the link.
    """
    if url is not None and (ti := context.get("ti")) is not None:
        ti.xcom_push(key=LINK_KEY, value=url)


class ZohoLink(BaseOperatorLink):  # type: ignore[misc]
    """The "Zoho" button of a task: what its job works on, in Zoho's UI (see the module's docstring)."""

    name = "Zoho"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """Return the URL the task pushed, or an empty string (no button) when it pushed none.

        :param operator: the task's operator.
        :param ti_key: the task instance's key.
        :return: the URL.
        """
        value = XCom.get_value(key=LINK_KEY, ti_key=ti_key)
        return value if isinstance(value, str) else ""
