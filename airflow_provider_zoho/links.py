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

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow_provider_zoho.compat import BaseOperatorLink, XCom
from airflow_provider_zoho.data_centers import DataCenter

#: The XCom key the link's URL is pushed under.
LINK_KEY = "zoho_link"

# Each product's UI host stem ({stem}.zoho.{tld}, {stem}.zohocloud.ca in Canada) and its path patterns.
_UI_STEMS = {"crm": "crm", "bigin": "bigin", "analytics": "analytics", "creator": "creatorapp"}
_PATTERNS: Mapping[str, tuple[tuple[str, ...], str]] = {
    # target: (the parts it needs, the path)
    "crm_module": (("org_id", "module"), "/crm/org{org_id}/tab/{module}"),
    "crm_org": (("org_id",), "/crm/org{org_id}"),
    "bigin_org": (("org_id",), "/bigin/org{org_id}"),
    "analytics_view": (("workspace_id", "view_id"), "/workspace/{workspace_id}/view/{view_id}"),
    "analytics_workspace": (("workspace_id",), "/workspace/{workspace_id}"),
    "creator_form": (
        ("account_owner_name", "app_link_name", "form_link_name"),
        "/{account_owner_name}/{app_link_name}/#Form:{form_link_name}",
    ),
    "creator_report": (
        ("account_owner_name", "app_link_name", "report_link_name"),
        "/{account_owner_name}/{app_link_name}/#Report:{report_link_name}",
    ),
}


def ui_host(product: str, data_center: DataCenter) -> str:
    """Return a product's UI host in a data center: ``crm.zoho.eu``, ``analytics.zohocloud.ca``...

    The UI lives under the accounts host's domain (``accounts.zoho.eu`` -> ``zoho.eu``).

    :param product: ``crm``, ``bigin``, ``analytics`` or ``creator``.
    :param data_center: the connection's data center.
    :return: the host name.
    """
    domain = data_center.accounts_host.removeprefix("accounts.")
    return f"{_UI_STEMS[product]}.{domain}"


def zoho_link(target: str, data_center: DataCenter, parts: Mapping[str, Any]) -> str | None:
    """Return the URL of ``target`` in Zoho's UI, or None when a part it needs is missing.

    :param target: ``crm_module``, ``bigin_org``, ``analytics_view``, ``analytics_workspace``,
        ``creator_form`` or ``creator_report``.
    :param data_center: the connection's data center.
    :param parts: the values of the target's parts (``org_id``, ``module``...); each is quoted into one segment.
    :return: the URL, or None.
    """
    needed, path = _PATTERNS[target]
    values = {name: parts.get(name) for name in needed}
    if any(value in (None, "") for value in values.values()):
        return None
    product = target.split("_", 1)[0]
    quoted = {name: quote(str(value), safe="") for name, value in values.items()}
    return f"https://{ui_host(product, data_center)}{path.format(**quoted)}"


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
