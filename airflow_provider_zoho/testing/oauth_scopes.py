"""The OAuth scopes each emulated endpoint requires, and how a token's granted scopes meet them.

A token carries the scopes its grant code (or its client, for refresh tokens registered directly) was
given; the server checks them centrally (``Server.check_scopes``) before a product's handler runs, and
answers a missing scope with the product's own refusal. This is the emulator's own table, written from
Zoho's doc pages (each rule names its source); it deliberately does not read the provider's
``products.py``, so a scope the provider forgets to ask for shows up as a refusal in the tests.

How Zoho's scopes combine, as modelled here:

* a scope is ``Service.scope_name.OPERATION`` (``ZohoCRM.bulk.CREATE``); the check ignores letter case
  (*unverified*: Zoho's own samples spell ``ZohoAnalytics.data.create`` in lower case and CRM's in upper);
* a granted ``X.ALL`` covers every scope under ``X.`` (``ZohoCRM.bulk.ALL`` covers ``ZohoCRM.bulk.CREATE``,
  ``ZohoCRM.modules.ALL`` covers ``ZohoCRM.modules.Leads.ALL``, ``ZohoCRM.settings.ALL`` covers
  ``ZohoCRM.settings.fields.READ``), and Analytics' ``ZohoAnalytics.fullaccess.all`` covers every
  ``ZohoAnalytics.*`` scope (Zoho Analytics API, "OAuth scopes");
* a rule lists requirements that must all be met, each met by any one of its alternatives.

Sources: ``docs/zoho-api.md``, "Scopes per call" (each call's Zoho doc page; the ``zoho/crm-oas`` v8.0
OpenAPI files' "Scopes" of each operation) and "Error bodies" for the refusals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_SCOPES",
    "REFUSALS",
    "SCOPE_RULES",
    "Refusal",
    "ScopeRule",
    "covers",
    "find_rule",
    "missing_scopes",
    "parse_scopes",
]

#: What a client or grant code declared without ``scope`` is granted: every scope the routes below need,
#: so tests and demos that never think about scopes keep working.
DEFAULT_SCOPES: tuple[str, ...] = (
    "ZohoCRM.bulk.ALL",
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.org.READ",
    "ZohoBigin.bulk.ALL",
    "ZohoBigin.modules.ALL",
    "ZohoBigin.settings.ALL",
    "ZohoBigin.org.READ",
    "ZohoFiles.files.ALL",
    "ZohoAnalytics.data.all",
    "ZohoAnalytics.metadata.read",
    "ZohoCreator.bulk.CREATE",
    "ZohoCreator.bulk.READ",
    "ZohoCreator.bulk.UPDATE",
    "ZohoCreator.meta.application.READ",
    "ZohoCreator.meta.form.READ",
)

_FULL_ACCESS = {"zohoanalytics.fullaccess.all": "zohoanalytics."}


@dataclass(frozen=True)
class Refusal:
    """A product's answer to a token without the scope a call needs.

    :param code: the product's error code.
    :param status: the HTTP status.
    :param message: the message, or None for the one the product's dialect documents for the code.
    """

    code: str | int
    status: int
    message: str | None = None


#: The refusal of each emulated kind (``docs/zoho-api.md``, "Error bodies" and "Scopes per call").
REFUSALS: Mapping[str, Refusal] = {
    # CRM and Bigin: OAUTH_SCOPE_MISMATCH, HTTP 401 (crm-oas v8.0; each bulk write page's error list).
    "crm_bulk_write": Refusal("OAUTH_SCOPE_MISMATCH", 401),
    "bigin_bulk_write": Refusal("OAUTH_SCOPE_MISMATCH", 401),
    # Creator: 2945 "invalid OAuth scope", HTTP 401 (Creator v2.1 status codes page).
    "creator_bulk_insert": Refusal(
        2945, 401, "Invalid OAuth scope. Regenerate the access token with the required scope."
    ),
    # Analytics: *unverified*. Zoho documents no missing-scope code; 7301 SECURITY_NOT_PERMITTED (403), its
    # documented "not permitted", stands in for it.
    "analytics_import": Refusal(7301, 403),
}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>[^/]+)" for n, part in enumerate(parts))
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class ScopeRule:
    """The scopes one call needs.

    :param method: the HTTP method.
    :param path: the path template, ``{name}`` standing for one segment.
    :param kind: the emulated kind whose refusal answers a missing scope.
    :param needs: requirements that must all be met, each by any one of its scopes.
    :param source: where Zoho says so.
    :param module_from: where the module of a module scope is read from the JSON body: ``"write"``
        (``resource[].module.api_name``, bulk write) or ``"read"`` (``query.module.api_name``, bulk read).
    :param module_needs: the module scope's alternatives, ``{module}`` standing for each module.
    """

    method: str
    path: str
    kind: str
    needs: tuple[tuple[str, ...], ...]
    source: str
    module_from: str | None = None
    module_needs: tuple[str, ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Compile the path template."""
        object.__setattr__(self, "pattern", _pattern(self.path))

    def match(self, method: str, path: str) -> re.Match[str] | None:
        """Match a request against this rule.

        :param method: the request's method.
        :param path: its path.
        :return: the match (its groups are the path's names), or None.
        """
        return self.pattern.match(path) if method.upper() == self.method else None


_CRM_SRC = "docs/zoho-api.md, 'Scopes per call': CRM bulk write (crm-oas v8.0 bulk_write 'Scopes')"
_BIGIN_SRC = "docs/zoho-api.md, 'Scopes per call': Bigin bulk write (bigin.com/developer/docs/apis/v2/bulk-write/)"
_READ_SRC = "docs/zoho-api.md, 'Scopes per call': CRM bulk read (crm-oas v8.0 bulk_read 'Scopes')"
_META_SRC = "docs/zoho-api.md, 'Scopes per call': metadata (*unverified*: the settings pages' scope lines)"
_AN_SRC = "docs/zoho-api.md, 'Scopes per call': Analytics (zoho.com/analytics/api/v2/bulk-api/)"
_CR_SRC = (
    "docs/zoho-api.md, 'Scopes per call': Creator (zoho.com/creator/help/api/v2.1/bulk-insert-api/"
    "create-bulk-insert-job.html, upload-bulk-insert-job.html, start-abort-job-status.html)"
)


def _write_rules(kind: str, service: str, write: str, api: str, source: str) -> list[ScopeRule]:
    """Build the bulk write and bulk read rules CRM and Bigin share, under their own paths and scope names."""
    bulk_status = ((f"{service}.bulk.CREATE", f"{service}.bulk.READ"),)
    return [
        ScopeRule("POST", f"/{api}/upload", kind, (("ZohoFiles.files.ALL",),), source),
        ScopeRule(
            "POST",
            write + "/write",
            kind,
            ((f"{service}.bulk.CREATE",),),
            source,
            module_from="write",
            module_needs=(f"{service}.modules.{{module}}.CREATE",),
        ),
        # crm-oas: the bulk write job GET lists the bulk scopes (CREATE, READ or ALL).
        ScopeRule("GET", write + "/write/{job_id}", kind, bulk_status, source),
        ScopeRule("GET", f"/{api}/org", kind, ((f"{service}.org.READ",),), source + " (*unverified*)"),
        ScopeRule(
            "POST",
            write + "/read",
            kind,
            ((f"{service}.bulk.READ",),),
            _READ_SRC,
            module_from="read",
            module_needs=(f"{service}.modules.{{module}}.READ",),
        ),
        ScopeRule("GET", write + "/read/{job_id}", kind, ((f"{service}.bulk.READ",),), _READ_SRC),
        ScopeRule("GET", write + "/read/{job_id}/result", kind, ((f"{service}.bulk.READ",),), _READ_SRC),
        ScopeRule("GET", f"/{api}/settings/modules", kind, ((f"{service}.settings.modules.READ",),), _META_SRC),
        ScopeRule("GET", f"/{api}/settings/fields", kind, ((f"{service}.settings.fields.READ",),), _META_SRC),
    ]


_AN_WS = "/restapi/v2/bulk/workspaces/{workspace_id}"
_AN_CREATE = (("ZohoAnalytics.data.create",),)
_AN_READ = (("ZohoAnalytics.data.read",),)
_AN_META = (("ZohoAnalytics.metadata.read",),)
_CR_INSERT = "/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/form/{form_link_name}/insert"
_CR_READ = "/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/report/{report_link_name}/read"

#: Every rule the server checks; a call no rule names needs no scope here.
SCOPE_RULES: tuple[ScopeRule, ...] = (
    *_write_rules("crm_bulk_write", "ZohoCRM", "/crm/bulk/v8", "crm/v8", _CRM_SRC),
    *_write_rules("bigin_bulk_write", "ZohoBigin", "/bigin/bulk/v2", "bigin/v2", _BIGIN_SRC),
    # Analytics import: create (and its batch form) ZohoAnalytics.data.create; the job's details likewise
    # (Zoho's "Get Import Job Details" page), read also with data.read.
    ScopeRule("POST", _AN_WS + "/views/{view_id}/data", "analytics_import", _AN_CREATE, _AN_SRC),
    ScopeRule("POST", _AN_WS + "/views/{view_id}/data/batch", "analytics_import", _AN_CREATE, _AN_SRC),
    ScopeRule("POST", _AN_WS + "/data", "analytics_import", _AN_CREATE, _AN_SRC),
    ScopeRule("POST", _AN_WS + "/data/batch", "analytics_import", _AN_CREATE, _AN_SRC),
    ScopeRule(
        "GET",
        _AN_WS + "/importjobs/{job_id}",
        "analytics_import",
        (("ZohoAnalytics.data.create", "ZohoAnalytics.data.read"),),
        _AN_SRC,
    ),
    # Analytics export: every call ZohoAnalytics.data.read.
    ScopeRule("GET", _AN_WS + "/views/{view_id}/data", "analytics_import", _AN_READ, _AN_SRC),
    ScopeRule("GET", _AN_WS + "/data", "analytics_import", _AN_READ, _AN_SRC),
    ScopeRule("GET", _AN_WS + "/exportjobs/{job_id}", "analytics_import", _AN_READ, _AN_SRC),
    ScopeRule("GET", _AN_WS + "/exportjobs/{job_id}/data", "analytics_import", _AN_READ, _AN_SRC),
    # Analytics metadata: the org list, workspaces and views (zoho/analytics-okf; AnalyticsClient).
    ScopeRule("GET", "/restapi/v2/orgs", "analytics_import", _AN_META, _AN_SRC),
    ScopeRule("GET", "/restapi/v2/workspaces", "analytics_import", _AN_META, _AN_SRC),
    ScopeRule("GET", "/restapi/v2/workspaces/{workspace_id}/views", "analytics_import", _AN_META, _AN_SRC),
    ScopeRule("GET", "/restapi/v2/views/{view_id}", "analytics_import", _AN_META, _AN_SRC),
    # Creator bulk insert: create and upload bulk.CREATE, Start/Abort bulk.UPDATE, status and result bulk.READ.
    ScopeRule("POST", _CR_INSERT, "creator_bulk_insert", (("ZohoCreator.bulk.CREATE",),), _CR_SRC),
    ScopeRule("POST", _CR_INSERT + "/{job_id}", "creator_bulk_insert", (("ZohoCreator.bulk.CREATE",),), _CR_SRC),
    ScopeRule("PATCH", _CR_INSERT + "/{job_id}", "creator_bulk_insert", (("ZohoCreator.bulk.UPDATE",),), _CR_SRC),
    ScopeRule("PUT", _CR_INSERT + "/{job_id}", "creator_bulk_insert", (("ZohoCreator.bulk.UPDATE",),), _CR_SRC),
    ScopeRule("GET", _CR_INSERT + "/{job_id}", "creator_bulk_insert", (("ZohoCreator.bulk.READ",),), _CR_SRC),
    ScopeRule("GET", _CR_INSERT + "/{job_id}/result", "creator_bulk_insert", (("ZohoCreator.bulk.READ",),), _CR_SRC),
    # Creator bulk read: create bulk.CREATE, status and download bulk.READ.
    ScopeRule("POST", _CR_READ, "creator_bulk_insert", (("ZohoCreator.bulk.CREATE",),), _CR_SRC),
    ScopeRule("GET", _CR_READ + "/{job_id}", "creator_bulk_insert", (("ZohoCreator.bulk.READ",),), _CR_SRC),
    ScopeRule("GET", _CR_READ + "/{job_id}/result", "creator_bulk_insert", (("ZohoCreator.bulk.READ",),), _CR_SRC),
    # The docs' download request line (bulk-read-api/download-bulk-read-result.html), the status's download_url.
    ScopeRule(
        "GET",
        "/api/bulk/v2.1/{account_owner_name}/{app_link_name}/report/{report_link_name}/read/{job_id}/result",
        "creator_bulk_insert",
        (("ZohoCreator.bulk.READ",),),
        _CR_SRC,
    ),
    # Creator metadata (*unverified*: the meta pages' scope lines).
    ScopeRule(
        "GET",
        "/creator/v2.1/meta/applications",
        "creator_bulk_insert",
        (("ZohoCreator.meta.application.READ",),),
        _CR_SRC + " (*unverified*)",
    ),
    ScopeRule(
        "GET",
        "/creator/v2.1/meta/{account_owner_name}/{app_link_name}/forms",
        "creator_bulk_insert",
        (("ZohoCreator.meta.form.READ",),),
        _CR_SRC + " (*unverified*)",
    ),
    ScopeRule(
        "GET",
        "/creator/v2.1/meta/{account_owner_name}/{app_link_name}/form/{form_link_name}/fields",
        "creator_bulk_insert",
        (("ZohoCreator.meta.form.READ",),),
        _CR_SRC + " (*unverified*)",
    ),
)


def parse_scopes(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Read a ``scope`` as Zoho writes it: a comma- (Generate Code box) or space-separated (token answer) string.

    :param value: the string, a list of scopes, or None.
    :return: the scopes, each once, in order; None when ``value`` is None.
    :raises ValueError: not a string or list of strings, or no scope at all.
    """
    if value is None:
        return None
    if isinstance(value, str):
        items: list[str] = re.split(r"[\s,]+", value)
    elif isinstance(value, Iterable) and all(isinstance(item, str) for item in value):
        items = [part for item in value for part in re.split(r"[\s,]+", item)]
    else:
        raise ValueError(f"scope must be a comma-separated string or a list of strings, got {value!r}")
    scopes = tuple(dict.fromkeys(item for item in items if item))
    if not scopes:
        raise ValueError(f"scope names no scope: {value!r}")
    return scopes


def covers(granted: Iterable[str], required: str) -> bool:
    """Tell whether scopes ``granted`` include ``required`` (see the module docstring for the rules).

    :param granted: the token's scopes.
    :param required: the scope a call needs.
    :return: True when one granted scope is it, or an ``.ALL`` above it.
    """
    need = required.casefold()
    for scope in granted:
        have = scope.casefold()
        if have == need or (have.endswith(".all") and need.startswith(have[: -len("all")])):
            return True
        if have in _FULL_ACCESS and need.startswith(_FULL_ACCESS[have]):
            return True
    return False


def find_rule(method: str, path: str) -> tuple[ScopeRule, dict[str, str]] | None:
    """Find the rule of a request.

    :param method: the request's method.
    :param path: its path.
    :return: the rule and the path's names, or None when no rule names the call.
    """
    for rule in SCOPE_RULES:
        match = rule.match(method, path)
        if match is not None:
            return rule, match.groupdict()
    return None


def _api_name(module: Any) -> str | None:
    value = module.get("api_name") if isinstance(module, dict) else module
    return value if isinstance(value, str) and value else None


def _modules(rule: ScopeRule, body: bytes) -> list[str]:
    """Return the modules a bulk write or read names in its JSON body (none in a body that is not JSON)."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return []
    if not isinstance(payload, dict):
        return []
    if rule.module_from == "write":
        resources = payload.get("resource")
        found = (
            [_api_name(r.get("module")) for r in resources if isinstance(r, dict)]
            if isinstance(resources, list)
            else []
        )
    else:
        query = payload.get("query")
        found = [_api_name(query.get("module"))] if isinstance(query, dict) else []
    return [name for name in dict.fromkeys(found) if name is not None]


def missing_scopes(rule: ScopeRule, granted: Iterable[str], body: bytes = b"") -> list[str]:
    """Return what the token lacks for the call, each requirement as its alternatives joined with ``or``.

    A module scope is checked for each module the body names; a body naming none is left to the handler
    (which refuses it for its own reason).

    :param rule: the call's rule.
    :param granted: the token's scopes.
    :param body: the request's body, for a module scope.
    :return: the unmet requirements; empty when the call may go on.
    """
    scopes = tuple(granted)
    needs = list(rule.needs)
    if rule.module_from is not None:
        needs += [tuple(alt.format(module=module) for alt in rule.module_needs) for module in _modules(rule, body)]
    return [" or ".join(alternatives) for alternatives in needs if not any(covers(scopes, a) for a in alternatives)]
