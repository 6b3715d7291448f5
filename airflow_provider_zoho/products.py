"""Each Zoho product this provider talks to, as one record: its paths, header names, scopes, busy codes and limits.

A Zoho fact about a product is written here once and read by everything that needs it: the job kinds
(``jobs/kinds.py``), the request builders (``hooks/exchange.py``), the operators, the connection's checks and the
error table (a product's "busy, try later" codes are rows of ``errors.ERROR_RULES``). The facts and their
sources are listed in the docs, ``docs/zoho-api.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import quote

from airflow_provider_zoho.data_centers import Service


class Dialect(StrEnum):
    """The error-body shapes Zoho's endpoints use."""

    ACCOUNTS = "accounts"  # {"error": "...", "error_description": "..."}, always HTTP 200
    CRM = "crm"  # CRM and Bigin: {"code": "NAME", "message": "...", "status": "error"}
    ANALYTICS = "analytics"  # {"status": "failure", "data": {"errorCode": 8535, "errorMessage": "..."}}
    CREATOR = "creator"  # {"code": 1030, "message": "..."}; 3000 means success
    HTTP = "http"  # no recognisable Zoho body: the HTTP status and the network decide


def quoted_path(template: str, values: Mapping[str, object], what: str) -> str:
    """Fill a path template, each value quoted into exactly one segment.

    A value such as ``a/b`` would move the request to another path, so ``/`` is quoted; ``.`` and ``..``,
    which quoting leaves as they are, are refused.

    :param template: the path with ``{name}`` placeholders.
    :param values: the value of each placeholder.
    :param what: what the path is for, named in the error.
    :return: the path.
    """
    segments = {name: quote(str(value), safe="") for name, value in values.items()}
    if dots := [name for name, segment in segments.items() if segment in (".", "..")]:
        raise ValueError(f"{what}: {', '.join(dots)} must be a name, not '.' or '..'")
    return template.format(**segments)


@dataclass(frozen=True)
class ZohoProduct:
    """What this provider knows about one Zoho product's bulk APIs.

    :param name: a short lowercase name (``crm``).
    :param label: the product's name for messages (``Zoho CRM``).
    :param service: the host family its API lives on.
    :param dialect: the shape of its error answers.
    :param paths: each call's path template, by call name.
    :param headers: Zoho's name of each header the product reads, by role (``org``, ``environment``).
    :param header_values: the fixed value of a header that always carries the same one.
    :param scopes: the OAuth scopes each call needs, by call name (``{module}`` stands for the module).
    :param busy_codes: Zoho's codes that mean "busy, try later", with their meaning: waited out, never failed.
    :param limits: the product's documented limits, by name.
    :param choices: the values a coordinate may take, by coordinate.
    :param refused_modules: modules its bulk write refuses.
    :param ui_host_stem: its web UI's host under the data center's domain (``crm`` for ``crm.zoho.eu``).
    :param ui_paths: the paths of its web UI a task links to, by target (``links.py``), with the parts they
        need as placeholders. *Unverified*: Zoho documents no deep links (see ``links.py`` for the sources).
    """

    name: str
    label: str
    service: Service
    dialect: Dialect
    paths: Mapping[str, str]
    headers: Mapping[str, str] = field(default_factory=dict)
    header_values: Mapping[str, str] = field(default_factory=dict)
    scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    busy_codes: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, int] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    refused_modules: frozenset[str] = frozenset()
    ui_host_stem: str = ""
    ui_paths: Mapping[str, str] = field(default_factory=dict)

    def path(self, call: str, **values: object) -> str:
        """Return the path of ``call`` with each value quoted into one segment.

        :param call: a key of ``paths``.
        :param values: the path's placeholders.
        :return: the path, to append to the service's base URL.
        """
        return quoted_path(self.paths[call], values, f"{self.label} {call}")

    def header(self, role: str, value: str) -> dict[str, str]:
        """Return the header of ``role`` carrying ``value``, as a one-entry dict.

        :param role: a key of ``headers``.
        :param value: the header's value.
        :return: ``{Zoho's header name: value}``.
        """
        return {self.headers[role]: value}

    def scope_list(self) -> tuple[str, ...]:
        """Return every scope any call of the product needs, each once, in the order the calls list them.

        :return: the scopes, ``{module}`` left as it is.
        """
        return tuple(dict.fromkeys(scope for scopes in self.scopes.values() for scope in scopes))


_CRM_WRITE = "/crm/bulk/v8/write"
_CRM_READ = "/crm/bulk/v8/read"
# One bulk read job exports at most 200,000 records, of at most 1,000 fields (Zoho's bulk read limitations,
# https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/limitations.html).
_READ_LIMITS = {"records_per_read_job": 200_000, "fields_per_read": 1_000}
CRM = ZohoProduct(
    name="crm",
    label="Zoho CRM",
    service=Service.API,
    dialect=Dialect.CRM,
    paths={
        "org": "/crm/v8/org",
        "upload": "/crm/v8/upload",
        "bulk_write": _CRM_WRITE,
        "bulk_write_job": _CRM_WRITE + "/{job_id}",
        # Bulk read: the result's download_url is this result path, relative to the API host.
        "bulk_read": _CRM_READ,
        "bulk_read_job": _CRM_READ + "/{job_id}",
        "bulk_read_result": _CRM_READ + "/{job_id}/result",
        # The metadata a load is checked against before anything is spent (``?module=`` for the fields).
        "modules": "/crm/v8/settings/modules",
        "fields": "/crm/v8/settings/fields",
    },
    # An upload names its org and says what the file is for.
    headers={"org": "X-CRM-ORG", "feature": "feature"},
    header_values={"feature": "bulk-write"},
    scopes={
        "bulk_write": ("ZohoCRM.bulk.CREATE", "ZohoCRM.modules.{module}.ALL"),
        "upload": ("ZohoFiles.files.ALL",),
        # https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/create-job.html, "Scope".
        "bulk_read": ("ZohoCRM.bulk.READ", "ZohoCRM.modules.{module}.READ"),
        "org": ("ZohoCRM.org.READ",),
        "modules": ("ZohoCRM.settings.modules.READ",),
        "fields": ("ZohoCRM.settings.fields.READ",),
    },
    limits={"records_per_job": 25_000, "zip_bytes": 25 * 1024 * 1024, **_READ_LIMITS},
    ui_host_stem="crm",
    ui_paths={"crm_module": "/crm/org{org_id}/tab/{module}", "crm_org": "/crm/org{org_id}"},
)

# Bigin's bulk write API is CRM's under other paths and scopes, with modules it refuses.
_BIGIN_WRITE = "/bigin/bulk/v2/write"
_BIGIN_READ = "/bigin/bulk/v2/read"
BIGIN = ZohoProduct(
    name="bigin",
    label="Zoho Bigin",
    service=Service.API,
    dialect=Dialect.CRM,
    paths={
        "org": "/bigin/v2/org",
        "upload": "/bigin/v2/upload",
        "bulk_write": _BIGIN_WRITE,
        "bulk_write_job": _BIGIN_WRITE + "/{job_id}",
        "bulk_read": _BIGIN_READ,
        "bulk_read_job": _BIGIN_READ + "/{job_id}",
        "bulk_read_result": _BIGIN_READ + "/{job_id}/result",
        "modules": "/bigin/v2/settings/modules",
        "fields": "/bigin/v2/settings/fields",
    },
    headers=CRM.headers,
    header_values=CRM.header_values,
    scopes={
        "bulk_write": ("ZohoBigin.bulk.CREATE", "ZohoBigin.modules.{module}.ALL"),
        "upload": ("ZohoFiles.files.ALL",),
        # https://www.bigin.com/developer/docs/apis/v2/bulk-read/create-job.html, "Scope".
        "bulk_read": ("ZohoBigin.bulk.READ", "ZohoBigin.modules.{module}.READ"),
        "org": ("ZohoBigin.org.READ",),
        "modules": ("ZohoBigin.settings.modules.READ",),
        "fields": ("ZohoBigin.settings.fields.READ",),
    },
    limits=CRM.limits,
    # Bigin's bulk write page says these modules are not supported
    # (https://www.bigin.com/developer/docs/apis/v2/bulk-write/overview.html; docs/zoho-api.md, "Creating jobs").
    refused_modules=frozenset({"Users", "Notes", "Tasks", "Events", "Calls", "Attachments"}),
    ui_host_stem="bigin",
    ui_paths={"bigin_org": "/bigin/org{org_id}"},
)

_WORKSPACE = "/restapi/v2/bulk/workspaces/{workspace_id}"
ANALYTICS = ZohoProduct(
    name="analytics",
    label="Zoho Analytics",
    service=Service.ANALYTICS,
    dialect=Dialect.ANALYTICS,
    paths={
        "import_into_table": _WORKSPACE + "/views/{view_id}/data",
        "import_into_table_batch": _WORKSPACE + "/views/{view_id}/data/batch",
        "import_new_table": _WORKSPACE + "/data",
        "import_new_table_batch": _WORKSPACE + "/data/batch",
        "import_job": _WORKSPACE + "/importjobs/{job_id}",
        # Export: GET these (the view's path is the import's, another method), CONFIG a query parameter.
        "export_view": _WORKSPACE + "/views/{view_id}/data",
        "export_sql": _WORKSPACE + "/data",
        "export_job": _WORKSPACE + "/exportjobs/{job_id}",
        "export_data": _WORKSPACE + "/exportjobs/{job_id}/data",
        "orgs": "/restapi/v2/orgs",
        # Metadata, as Zoho's AnalyticsClient reads it: the workspaces, a workspace's views, one view's details.
        "workspaces": "/restapi/v2/workspaces",
        "views": "/restapi/v2/workspaces/{workspace_id}/views",
        "view": "/restapi/v2/views/{view_id}",
    },
    headers={"org": "ZANALYTICS-ORGID"},
    scopes={
        "import": ("ZohoAnalytics.data.create",),
        # https://www.zoho.com/analytics/api/v2/bulk-api/export-data-async/create-export-job.html, "OAuth scope".
        "export": ("ZohoAnalytics.data.read",),
        "orgs": ("ZohoAnalytics.metadata.read",),
        "workspaces": ("ZohoAnalytics.metadata.read",),
        "views": ("ZohoAnalytics.metadata.read",),
        "view": ("ZohoAnalytics.metadata.read",),
    },
    busy_codes={
        "8134": "the org already runs 5 import jobs: waited out until one ends",
        "8132": "the org already runs 5 export jobs: waited out until one ends",
        # An export's result asked for before the job ended: asked again until it is ready.
        "8121": "the export job is still queued: its result is asked for again until it is ready",
        "8122": "the export job is still running: its result is asked for again until it is ready",
    },
    # One file (and one batch of a batch import) is at most 100 MB; a batch import takes at most 100 batches.
    # A SQL export is cut at 800,000 rows while its job still reports success (Zoho's export page, "Limits").
    limits={"file_bytes": 100 * 1024 * 1024, "batches": 100, "sql_export_rows": 800_000},
    ui_host_stem="analytics",
    ui_paths={
        "analytics_view": "/workspace/{workspace_id}/view/{view_id}",
        "analytics_workspace": "/workspace/{workspace_id}",
    },
)

_CREATOR_INSERT = "/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/form/{form_link_name}/insert"
_CREATOR_READ = "/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/report/{report_link_name}/read"
CREATOR = ZohoProduct(
    name="creator",
    label="Zoho Creator",
    service=Service.API,
    dialect=Dialect.CREATOR,
    paths={
        "bulk_insert": _CREATOR_INSERT,
        "bulk_insert_job": _CREATOR_INSERT + "/{job_id}",
        "bulk_insert_result": _CREATOR_INSERT + "/{job_id}/result",
        # Bulk read reads a report, not a form. Its status's download_url is the legacy /api/bulk/v2.1/... form:
        # the result path is built from this one instead.
        "bulk_read": _CREATOR_READ,
        "bulk_read_job": _CREATOR_READ + "/{job_id}",
        "bulk_read_result": _CREATOR_READ + "/{job_id}/result",
        "applications": "/creator/v2.1/meta/applications",
        "forms": "/creator/v2.1/meta/{account_owner_name}/{app_link_name}/forms",
        "form_fields": "/creator/v2.1/meta/{account_owner_name}/{app_link_name}/form/{form_link_name}/fields",
    },
    headers={"environment": "environment"},
    scopes={
        "bulk_insert": ("ZohoCreator.bulk.CREATE",),
        # https://www.zoho.com/creator/help/api/v2.1/bulk-read-api/create-bulk-read-job.html, "OAuth scope".
        "bulk_read": ("ZohoCreator.bulk.CREATE",),
        "start_abort": ("ZohoCreator.bulk.UPDATE",),
        "status_result": ("ZohoCreator.bulk.READ",),
        # Unverified: Zoho's metadata pages name these scopes for the applications and form calls.
        "applications": ("ZohoCreator.meta.application.READ",),
        "forms": ("ZohoCreator.meta.form.READ",),
        "form_fields": ("ZohoCreator.meta.form.READ",),
    },
    busy_codes={"11110": "the job's result file is still being generated: asked again until it is ready"},
    # A bulk read batch holds 100,000 (the default) to 200,000 records; its record_cursor is valid 15 minutes
    # (https://www.zoho.com/creator/help/api/creator-known-issues-and-limitations.html).
    limits={"file_bytes": 100 * 1024 * 1024, "records_per_read_job": 200_000, "cursor_seconds": 15 * 60},
    choices={"environment": ("development", "stage")},
    ui_host_stem="creatorapp",
    ui_paths={
        "creator_form": "/{account_owner_name}/{app_link_name}/#Form:{form_link_name}",
        "creator_report": "/{account_owner_name}/{app_link_name}/#Report:{report_link_name}",
    },
)

PRODUCTS: Mapping[str, ZohoProduct] = {product.name: product for product in (CRM, BIGIN, ANALYTICS, CREATOR)}
