"""How each emulated Zoho product speaks: paths, states, status bodies and error bodies, one table by kind.

Zoho's four bulk-job APIs disagree on almost everything a poller sees: where the job lives, how a state is
spelled, how an error is shaped, which HTTP status an error code comes with.  Rather than spread
``if kind == ...`` branches through the server, every difference is data in an :class:`EmulatedProduct`;
the server only ever asks "what does *this* product answer for X".

The emulator is an independent model of Zoho, so nothing here is shared with the provider, and the names
say so: :class:`EmulatedProduct` (not the provider's error ``Dialect``), :data:`EMULATED_KINDS` and
:data:`EMULATED_PRODUCTS` (not ``airflow_provider_zoho.jobs.JOB_KINDS``), :func:`emulator_state_key` (not
``jobs.normalize_state``).

Facts come from ``docs/zoho-api.md`` ("Error bodies", "Job status lifecycles", "Rate limits worth
knowing"), which names the Zoho page behind each, e.g.
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/get-status.html,
https://www.zoho.com/analytics/api/v2/bulk-api/import-data-async/get-import-job-details.html and
https://www.zoho.com/creator/help/api/v2.1/bulk-insert-api/get-bulk-insert-job-status.html.  Anything
marked *unverified* is a plausible guess (Zoho does not document it); the provider must not rely on those
exact values.

This module is pure: no I/O, no aiohttp, no airflow, so it is cheap to import and easy to unit-test.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_zoho.testing.faults import Fault

__all__ = [
    "EMULATED_KINDS",
    "EMULATED_PRODUCTS",
    "Answer",
    "EmulatedProduct",
    "ErrorInfo",
    "JobSpec",
    "Step",
    "emulator_state_key",
]

JSON = dict[str, Any]
#: One entry of a job's script: a state string as the product spells it, or a fault.
Step = str | Fault
CodeT = str | int

#: The job kinds the emulator serves, by the provider's kind names (the emulator's own list).
EMULATED_KINDS: tuple[str, ...] = ("analytics_import", "crm_bulk_write", "bigin_bulk_write", "creator_bulk_insert")
# The read side: the jobs an export waits for (Analytics async export, Creator bulk read).
EMULATED_KINDS += ("analytics_export", "creator_bulk_read")
# CRM v8 and Bigin v2 bulk read (testing/bulk_read.py).
EMULATED_KINDS += ("crm_bulk_read", "bigin_bulk_read")


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer, independent of the web framework, so product code stays pure and testable."""

    status: int
    body: Any  # a JSON-able value, or a ``str`` sent verbatim
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What Zoho documents for one error code: default HTTP status, summary constant and message."""

    status: int
    summary: str
    message: str


@dataclass(frozen=True, slots=True)
class JobSpec:
    """An immutable registered job; the mutable script position lives in the emulator's store."""

    kind: str
    job_id: str
    script: tuple[Step, ...]
    coordinates: Mapping[str, str | None]
    counts: Mapping[str, int]
    error_message: str | None
    error_code: CodeT | None
    created_at: float  # epoch seconds; feeds ``created_time`` / ``expiryTime``
    #: what a job created through the write API says about itself (module, operation, file_name, download_url).
    details: Mapping[str, Any] = field(default_factory=dict)


_NORMALIZE_RE = re.compile(r"[\s_\-]+")


def emulator_state_key(state: str) -> str:
    """Fold case, spaces, hyphens and underscores out of a state, so that its spellings compare equal.

    Zoho's own sources spell one state several ways (``docs/zoho-api.md``, "Job status lifecycles"), so
    scripts may spell a state the way a sample does (``"INPROGRESS"``, ``"IN_PROGRESS"``) and the emulator
    reports it exactly as written, which lets provider tests exercise spelling variants.

    :param state: a state as some source spells it.
    :return: its key: upper case, without separators.
    """
    return _NORMALIZE_RE.sub("", state).upper()


# A coordinate is read either from the URL path or from a request header.
Source = tuple[Literal["path", "header"], str]


@dataclass(frozen=True, slots=True)
class EmulatedProduct:
    """Everything the server needs to know to impersonate one Zoho bulk-job API (one job kind)."""

    kind: str
    #: aiohttp route of the job-status GET; ``{job_id}`` plus the path coordinates.
    route: str
    #: coordinate name -> where the request carries it; ``optional`` ones may be ``None`` on a job.
    coordinates: Mapping[str, Source]
    optional_coordinates: frozenset[str]
    #: normalized spelling -> canonical state name (the key of the body-building tables).
    states: Mapping[str, str]
    #: reported by a script made only of faults, before any state step.
    initial_state: str
    #: documented error codes; codes outside the table get ``fallback_status``.
    errors: Mapping[CodeT, ErrorInfo]
    fallback_status: int
    code_type: type[str] | type[int]
    invalid_token_code: CodeT
    rate_limit_code: CodeT
    server_error_code: CodeT
    #: header that must be present (else ``missing_header_code``), checked before the job lookup.
    required_header: str | None
    missing_header_code: CodeT | None
    #: ordered (coordinate names, code): a request naming an unknown scope gets that error, else not-found.
    scopes: tuple[tuple[tuple[str, ...], CodeT], ...]
    error_body: Callable[[CodeT, ErrorInfo], JSON]
    render: Callable[[JobSpec, str, str], JSON]
    not_found_body: Callable[[EmulatedProduct, str], Answer]
    missing_fields_body: Callable[[], JSON]
    #: keys of ``counts=`` this product understands (a typo should fail at ``add_job`` time); also the
    #: count fields of a status body.
    count_keys: frozenset[str] = field(default_factory=frozenset)
    #: the key of the status body's payload object (what a client returns as the job's response), or
    #: None when the payload is the body itself.
    payload_key: str | None = None

    # -- state vocabulary -------------------------------------------------------------------------------
    def canonical_state(self, state: str) -> str:
        """Return the canonical name of a script state, however it is spelled.

        :param state: a state as a script spells it.
        :return: the product's own spelling.
        :raises ValueError: the product has no such state.
        """
        try:
            return self.states[emulator_state_key(state)]
        except KeyError:
            raise ValueError(
                f"{state!r} is not a {self.kind} state; expected one of {sorted(set(self.states.values()))}"
            ) from None

    def coerce_code(self, code: CodeT) -> CodeT:
        """Convert an error code to the product's type: strings for CRM/Bigin, integers for Analytics/Creator.

        :param code: the code, e.g. ``"8138"`` from JSON.
        :return: the code in the product's type (``8138``).
        :raises ValueError: a code that cannot be the product's (a name for an integer product...).
        """
        if self.code_type is int:
            if isinstance(code, bool):
                raise ValueError(f"{self.kind} error codes are integers, got {code!r}")
            try:
                return int(code)
            except ValueError:
                raise ValueError(f"{self.kind} error codes are integers, got {code!r}") from None
        if not isinstance(code, str):
            raise ValueError(f"{self.kind} error codes are strings like 'NO_PERMISSION', got {code!r}")
        return code

    # -- answers ----------------------------------------------------------------------------------------
    def error(
        self,
        code: CodeT,
        status: int | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        message: str | None = None,
    ) -> Answer:
        """Build the product's error answer for ``code``.

        :param code: the error code.
        :param status: the HTTP status; default the one Zoho documents for the code.
        :param headers: headers to send with it.
        :param message: the message; default the one Zoho documents.
        :return: the answer.
        """
        code = self.coerce_code(code)
        info = self.errors.get(code) or ErrorInfo(self.fallback_status, "API_ERROR", f"Error {code}.")
        if message is not None:
            info = ErrorInfo(info.status, info.summary, message)
        return Answer(status if status is not None else info.status, self.error_body(code, info), headers=headers)

    def invalid_token(self) -> Answer:
        """Build the answer to a missing, unknown, expired or revoked access token.

        :return: the product's invalid-token error.
        """
        return self.error(self.invalid_token_code)

    def rate_limited(self, retry_after: float | None) -> Answer:
        """Build an HTTP 429 with the product's limit body.

        :param retry_after: seconds for a ``Retry-After`` header; None: no header.
        :return: the answer.
        """
        headers = () if retry_after is None else (("Retry-After", _format_seconds(retry_after)),)
        return self.error(self.rate_limit_code, 429, headers)

    def server_error(self, status: int | None, html: bool) -> Answer:
        """Build a 5xx: the product's internal-error JSON, or the HTML page a load balancer would serve.

        :param status: the status; default 500.
        :param html: send the HTML page instead of the JSON.
        :return: the answer.
        """
        status = status if status is not None else 500
        if html:
            return Answer(status, html_error_page(status), content_type="text/html")
        return self.error(self.server_error_code, status)

    def not_found(self, job_id: str) -> Answer:
        """Build the answer to a job id the product does not know (Analytics answers it with HTTP 200).

        :param job_id: the id asked for.
        :return: the answer.
        """
        return self.not_found_body(self, job_id)

    def missing_fields(self) -> Answer:
        """Build an HTTP 200 with a well-formed body that lacks the state field.

        :return: the answer.
        """
        return Answer(200, self.missing_fields_body())

    def state(self, job: JobSpec, written: str) -> Answer:
        """Build an HTTP 200 with the job's status body for a state step.

        :param job: the job.
        :param written: the state as its script spells it, reported verbatim.
        :return: the answer.
        """
        return Answer(200, self.render(job, written, self.canonical_state(written)))


def _format_seconds(seconds: float) -> str:
    """``Retry-After`` is integral seconds in HTTP; fractions are kept so tests can run fast."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


def html_error_page(status: int) -> str:
    """Return the kind of page a proxy in front of Zoho serves on a 5xx: HTML, not the API's JSON.

    :param status: the status the page names.
    :return: the page.
    """
    return (
        f"<!DOCTYPE html><html><head><title>{status} Error</title></head>"
        f"<body><h1>{status} Error</h1><p>The server encountered a temporary error.</p></body></html>"
    )


def _iso_time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).isoformat(timespec="seconds")


def _merge_counts(defaults: Mapping[str, int], job: JobSpec) -> dict[str, int]:
    merged = dict(defaults)
    merged.update(job.counts)
    return merged


# ---------------------------------------------------------------------------------------------------------
# Zoho Analytics: asynchronous import jobs
# ---------------------------------------------------------------------------------------------------------
_ANALYTICS_STATUS_TEXT = {
    "1001": "JOB NOT INITIATED",
    "1002": "JOB IN PROGRESS",
    "1003": "ERROR OCCURRED",
    "1004": "JOB COMPLETED",
    "1005": "JOB NOT FOUND",
}
_ANALYTICS_SUMMARY = "Fetch import job info"
_ANALYTICS_SUMMARY_RETENTION_MS = 3_600_000  # the job summary is kept one hour
# Default importSummary counts for the states that carry jobInfo.
_ANALYTICS_COUNTS = {
    "1004": {"totalRowCount": 100, "successRowCount": 100, "warnings": 0},
    "1003": {"totalRowCount": 100, "successRowCount": 40, "warnings": 0},
}
# The column details of the doc sample, for a job added without the columns of a file it imported.
_ANALYTICS_COLUMNS = {
    "Date": "Date",
    "Region": "Plain Text",
    "Product Category": "Plain Text",
    "Product": "Plain Text",
    "Customer Name": "Plain Text",
    "Sales": "Currency",
    "Cost": "Currency",
}
_ANALYTICS_ERRORS: dict[CodeT, ErrorInfo] = {
    8535: ErrorInfo(401, "INVALID_OAUTHTOKEN", "Invalid oauthtoken."),
    8083: ErrorInfo(400, "ORGID_NOT_PRESENT_IN_THE_HEADER", "Organization id is not present in the request header."),
    # The summary constants of 7103, 7387, 8504, 7005, 7232 are *unverified* (only codes are documented).
    7103: ErrorInfo(404, "WORKSPACE_NOT_EXIST", "The workspace id mentioned in the API does not exist."),
    7387: ErrorInfo(400, "WORKSPACE_NOT_IN_ORG", "Workspaces does not belongs to current organization."),
    # Metadata and bulk API codes (https://zoho.com/analytics/api/v2/metadata-api/error-codes.html and
    # https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html); their summaries and HTTP statuses are
    # *unverified*, and so is 7203 (an empty file), which neither page lists.
    7104: ErrorInfo(404, "VIEW_NOT_EXIST", "The view id specified in the API does not exist."),
    7111: ErrorInfo(400, "TABLE_ALREADY_EXIST", "A table with the same name already exist."),
    7138: ErrorInfo(404, "VIEW_NOT_EXIST", "The view id mentioned in the API URL does not exist."),
    7203: ErrorInfo(400, "EMPTY_FILE", "The file is empty: there is no data to import."),
    7235: ErrorInfo(
        400, "COLUMN_NOT_MATCHED", "Not even a single column name provided in source file matches with the table."
    ),
    7248: ErrorInfo(400, "NOT_MULTIPART", 'The file content is not "multipart/form-data" format.'),
    7249: ErrorInfo(400, "FILE_NOT_IMPORTABLE", 'The file cannot be imported: its content is not the "fileType".'),
    8137: ErrorInfo(400, "IMPORT_JOB_NOT_FOUND", "Import job not found."),
    8138: ErrorInfo(403, "IMPORT_JOB_ACCESS_DENIED", "Only the user who created the import job can access it."),
    8134: ErrorInfo(400, "ASYNC_IMPORT_LIMIT_EXCEEDED", "Maximum 5 simultaneous import jobs are allowed."),
    7301: ErrorInfo(403, "SECURITY_NOT_PERMITTED", "You do not have the permission to do this operation."),
    8504: ErrorInfo(400, "PARAMETER_NOT_PROPER", "The required parameter is not proper or has not been sent."),
    7005: ErrorInfo(500, "SERVER_ERROR", "An internal server error occurred."),
    7232: ErrorInfo(400, "IMPORT_ABORTED", "Import Aborted."),
    # *unverified*: Analytics does not document its rate-limit answer; 6045/API_LIMIT_EXCEEDED is a guess.
    6045: ErrorInfo(429, "API_LIMIT_EXCEEDED", "API limit exceeded. Please try again after some time."),
}


def _analytics_error_body(code: CodeT, info: ErrorInfo) -> JSON:
    return {"status": "failure", "summary": info.summary, "data": {"errorCode": code, "errorMessage": info.message}}


def _analytics_render(job: JobSpec, written: str, canonical: str) -> JSON:
    data: JSON = {"jobId": job.job_id, "jobCode": canonical, "jobStatus": _ANALYTICS_STATUS_TEXT[canonical]}
    if canonical in _ANALYTICS_COUNTS:
        failed = canonical == "1003"
        # A job the import endpoints created says what it imported: the file's columns, "updated" with no
        # viewId for an existing table, "created" with the new table's viewId. A job added by a test without
        # those details keeps the doc sample's (a new table, its columns).
        columns = job.details.get("columns", _ANALYTICS_COLUMNS)
        summary: JSON = {
            "importType": job.details.get("import_type", "APPEND"),
            "totalColumnCount": len(columns),
            "selectedColumnCount": len(columns),
            **_merge_counts(_ANALYTICS_COUNTS[canonical], job),
            "importOperation": job.details.get("import_operation", "created"),
        }
        view_id = job.details.get("view_id", f"{job.job_id}0")
        info: JSON = {} if view_id is None else {"viewId": view_id}
        info |= {
            "importSummary": summary,
            "columnDetails": dict(columns),
            "importErrors": job.details.get(
                "import_errors", "<b>Row 41</b>: value does not match the column data type." if failed else ""
            ),
        }
        if failed:
            # *unverified*: which errorCode a failed import reports; 7232 "Import Aborted." is the closest
            # documented bulk-API code.
            info["errorCode"] = job.error_code if job.error_code is not None else 7232
            info["errorMessage"] = job.error_message or _ANALYTICS_ERRORS[7232].message
        data["jobInfo"] = info
    if canonical != "1005":
        data["expiryTime"] = str(int(job.created_at * 1000) + _ANALYTICS_SUMMARY_RETENTION_MS)
    return {"status": "success", "summary": _ANALYTICS_SUMMARY, "data": data}


def _analytics_not_found(_product: EmulatedProduct, job_id: str) -> Answer:
    # Zoho documents an unknown job id as a *successful* envelope with jobCode 1005.
    data = {"jobId": job_id, "jobCode": "1005", "jobStatus": _ANALYTICS_STATUS_TEXT["1005"]}
    return Answer(200, {"status": "success", "summary": _ANALYTICS_SUMMARY, "data": data})


ANALYTICS = EmulatedProduct(
    kind="analytics_import",
    route="/restapi/v2/bulk/workspaces/{workspace_id}/importjobs/{job_id}",
    coordinates={"workspace_id": ("path", "workspace_id"), "org_id": ("header", "ZANALYTICS-ORGID")},
    optional_coordinates=frozenset(),
    states={code: code for code in _ANALYTICS_STATUS_TEXT},
    initial_state="1001",
    errors=_ANALYTICS_ERRORS,
    fallback_status=400,
    code_type=int,
    invalid_token_code=8535,
    rate_limit_code=6045,
    server_error_code=7005,  # *unverified* that a 5xx carries 7005
    required_header="ZANALYTICS-ORGID",
    missing_header_code=8083,
    # A workspace nobody registered -> 7103; a known workspace asked for under another org -> 7387.
    scopes=((("workspace_id",), 7103), (("org_id", "workspace_id"), 7387)),
    error_body=_analytics_error_body,
    render=_analytics_render,
    not_found_body=_analytics_not_found,
    missing_fields_body=lambda: {"status": "success", "summary": _ANALYTICS_SUMMARY, "data": {}},
    count_keys=frozenset({"totalRowCount", "successRowCount", "warnings", "totalColumnCount", "selectedColumnCount"}),
    payload_key="data",
)


# ---------------------------------------------------------------------------------------------------------
# Zoho CRM and Bigin: bulk write jobs (identical shapes, different paths)
# ---------------------------------------------------------------------------------------------------------
_BULK_WRITE_STATES = {
    "ADDED": "ADDED",
    "INPROGRESS": "IN PROGRESS",
    "COMPLETED": "COMPLETED",
    # Zoho reports a failed import at the resource level under a COMPLETED job ...
    "FAILED": "FAILED",
    # ... while the emulator's JOB_FAILED additionally fails the job itself (undocumented, defensive).
    "JOBFAILED": "JOB_FAILED",
}
_BULK_WRITE_TERMINAL_COUNTS = {
    "COMPLETED": {"added_count": 100, "skipped_count": 0, "updated_count": 0, "total_count": 100},
    "FAILED": {"added_count": 60, "skipped_count": 40, "updated_count": 0, "total_count": 100},
    "JOB_FAILED": {"added_count": 0, "skipped_count": 100, "updated_count": 0, "total_count": 100},
}
_BULK_WRITE_ERRORS: dict[CodeT, ErrorInfo] = {
    code: ErrorInfo(status, code, message)
    for code, status, message in [
        ("INVALID_TOKEN", 401, "invalid oauth token"),
        ("OAUTH_SCOPE_MISMATCH", 401, "invalid oauth scope to access this URL"),
        ("AUTHENTICATION_FAILURE", 401, "Authentication failed"),
        ("NO_PERMISSION", 403, "permission denied"),
        ("AUTHORIZATION_FAILED", 400, "User does not have sufficient privilege to read."),
        ("INVALID_URL_PATTERN", 404, "Please check if the URL trying to access is a correct one"),
        ("INVALID_REQUEST_METHOD", 400, "The http request method type is not a valid one"),
        # 400 in the v8 OpenAPI spec for this GET, 404 in the docs; the emulator follows the docs.
        ("RESOURCE_NOT_FOUND", 404, "The requested resource doesn't exist."),
        ("INVALID_HOST", 400, "The host is not valid for this data center."),
        ("TOO_MANY_REQUESTS", 429, "You have made too many requests. Please try again after some time."),
        ("INTERNAL_ERROR", 500, "Internal Server Error"),
    ]
}
_FIELD_MAPPINGS = [
    {"api_name": "Deal_Name", "index": 1, "format": None, "find_by": None, "default_value": None},
    {"api_name": "Stage", "index": 2, "format": None, "find_by": None, "default_value": None},
]


def _bulk_write_error_body(code: CodeT, info: ErrorInfo) -> JSON:
    return {"code": code, "details": {}, "message": info.message, "status": "error"}


def _bulk_write_renderer(download_prefix: str) -> Callable[[JobSpec, str, str], JSON]:
    """CRM and Bigin share a body; only the result's download path differs."""

    def render(job: JobSpec, written: str, canonical: str) -> JSON:
        if canonical == "JOB_FAILED":
            job_status, resource_status = "FAILED", "FAILED"
        elif canonical == "FAILED":
            job_status, resource_status = "COMPLETED", written
        else:
            job_status = resource_status = written
        file: JSON = {"status": resource_status}
        if canonical != "ADDED":  # the documented ADDED sample has a bare file object
            file["name"] = job.details.get("file_name", "Deals.csv")
            if canonical in _BULK_WRITE_TERMINAL_COUNTS:
                file.update(_merge_counts(_BULK_WRITE_TERMINAL_COUNTS[canonical], job))
            else:
                total = job.counts.get("total_count", 100)
                file.update({"added_count": 0, "skipped_count": 0, "updated_count": 0, "total_count": total})
        resource: JSON = {
            "status": resource_status,
            "type": "data",
            # v8 answers carry the module as an object (Zoho's CRM SDK 8.0 loses the name from a plain string).
            "module": {"api_name": job.details.get("module", "Deals"), "id": "4150868000000002175"},
            # The create's own mappings when the job came through the create (crm-oas v8.0 getBulkWriteJobDetails).
            "field_mappings": [dict(m) for m in job.details.get("field_mappings", _FIELD_MAPPINGS)],
            "file": file,
        }
        for key in ("find_by", "ignore_empty"):
            if key in job.details:
                resource[key] = job.details[key]
        if canonical in ("FAILED", "JOB_FAILED") and (job.error_code is not None or job.error_message):
            # *unverified*: Zoho does not document where a failed resource's reason goes.
            resource["error"] = {"code": job.error_code, "message": job.error_message}
        body: JSON = {
            "status": job_status,
            "character_encoding": "UTF-8",
            "resource": [resource],
            "id": job.job_id,
        }
        if emulator_state_key(job_status) == "COMPLETED":
            default_url = f"{download_prefix}/bulk-write/{job.job_id}/{job.job_id}.zip"
            body["result"] = {"download_url": job.details.get("download_url", default_url)}
        body["created_by"] = {"id": "111111000000035795", "name": "Patricia Boyle"}
        body["operation"] = job.details.get("operation", "insert")
        body["created_time"] = _iso_time(job.created_at)
        if "callback" in job.details:  # the create's callback {url, method}, echoed (getBulkWriteJobDetails)
            body["callback"] = dict(job.details["callback"])
        return body

    return render


def _bulk_write_not_found(product: EmulatedProduct, _job_id: str) -> Answer:
    return product.error("RESOURCE_NOT_FOUND")


def _bulk_write_product(kind: str, route: str, download_prefix: str) -> EmulatedProduct:
    return EmulatedProduct(
        kind=kind,
        route=route,
        coordinates={},
        optional_coordinates=frozenset(),
        states=_BULK_WRITE_STATES,
        initial_state="ADDED",
        errors=_BULK_WRITE_ERRORS,
        fallback_status=400,
        code_type=str,
        invalid_token_code="INVALID_TOKEN",
        rate_limit_code="TOO_MANY_REQUESTS",
        server_error_code="INTERNAL_ERROR",
        required_header=None,
        missing_header_code=None,
        scopes=(),
        error_body=_bulk_write_error_body,
        render=_bulk_write_renderer(download_prefix),
        not_found_body=_bulk_write_not_found,
        missing_fields_body=dict,
        count_keys=frozenset({"added_count", "skipped_count", "updated_count", "total_count"}),
    )


CRM = _bulk_write_product("crm_bulk_write", "/crm/bulk/v8/write/{job_id}", "/v8/crm/org6196138")
BIGIN = _bulk_write_product("bigin_bulk_write", "/bigin/bulk/v2/write/{job_id}", "/v2/bigin/org6196138")


# ---------------------------------------------------------------------------------------------------------
# Zoho Creator: bulk insert jobs
# ---------------------------------------------------------------------------------------------------------
_CREATOR_STATES = {
    emulator_state_key(s): s
    for s in (
        "Ready-to-upload",
        "In-progress",
        "Completed",
        "Failed",
        "Aborted",
        "User Aborted",
        "System Aborted",
        "Expired",
    )
}
_CREATOR_TERMINAL_COUNTS = {
    "Completed": {"total_records": 100, "failed_records": 0, "unprocessed_records": 0, "success_records": 100},
    "Failed": {"total_records": 100, "failed_records": 40, "unprocessed_records": 0, "success_records": 60},
    "Aborted": {"total_records": 100, "failed_records": 10, "unprocessed_records": 60, "success_records": 30},
    "User Aborted": {"total_records": 100, "failed_records": 0, "unprocessed_records": 70, "success_records": 30},
    "System Aborted": {"total_records": 100, "failed_records": 10, "unprocessed_records": 60, "success_records": 30},
}
_CREATOR_ERRORS: dict[CodeT, ErrorInfo] = {
    1030: ErrorInfo(401, "", "Authorization Failure. The access token is either invalid or has expired."),
    1000: ErrorInfo(404, "", "No such URL or the URL has an invalid format or a parameter is missing."),
    1040: ErrorInfo(404, "", "Invalid account owner name."),
    1130: ErrorInfo(403, "", "API access is disabled for this application."),  # status *unverified*
    # Creator reports its daily developer-API limit with HTTP 200 (documented).
    4000: ErrorInfo(200, "", "You have reached the daily limit of developer API calls."),
    # *unverified*: 2945 is only seen as a generic validation / internal error.
    2945: ErrorInfo(500, "", "An internal error occurred. Please try again."),
    # *unverified*: Creator does not document the body of its per-minute limit; 2955 is a guess.
    2955: ErrorInfo(429, "", "You have reached the API request limit. Please try again after some time."),
}


def _creator_error_body(code: CodeT, info: ErrorInfo) -> JSON:
    return {"code": code, "message": info.message}


def _creator_render(job: JobSpec, written: str, canonical: str) -> JSON:
    if canonical in _CREATOR_TERMINAL_COUNTS:
        details = _merge_counts(_CREATOR_TERMINAL_COUNTS[canonical], job)
    else:
        # Nothing processed yet: everything uploaded is still unprocessed.
        total = 0 if canonical == "Ready-to-upload" else job.counts.get("total_records", 100)
        details = {"total_records": total, "failed_records": 0, "unprocessed_records": total, "success_records": 0}
    data: JSON = {"api_status": written, "record_details": details}
    if canonical not in ("Completed", "Ready-to-upload", "In-progress") and (
        job.error_code is not None or job.error_message
    ):
        # *unverified*: Creator does not document where a failed job's reason goes.
        data["message"] = job.error_message
        data["error_code"] = job.error_code
    if job.details.get("record_details_beside_data"):  # the shape of Zoho's Creator OpenAPI file
        return {"code": 3000, "data": {"api_status": written}, "record_details": details}
    return {"code": 3000, "data": data}


def _creator_not_found(product: EmulatedProduct, _job_id: str) -> Answer:
    return product.error(1000)


CREATOR = EmulatedProduct(
    kind="creator_bulk_insert",
    route="/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/form/{form_link_name}/insert/{job_id}",
    coordinates={
        "account_owner_name": ("path", "account_owner_name"),
        "app_link_name": ("path", "app_link_name"),
        "form_link_name": ("path", "form_link_name"),
        "environment": ("header", "environment"),
    },
    optional_coordinates=frozenset({"environment"}),
    states=_CREATOR_STATES,
    initial_state="Ready-to-upload",
    errors=_CREATOR_ERRORS,
    fallback_status=400,
    code_type=int,
    invalid_token_code=1030,
    rate_limit_code=2955,
    server_error_code=2945,
    required_header=None,
    missing_header_code=None,
    # An owner nobody registered -> 1040; a wrong app/form/environment -> not found (1000).
    scopes=((("account_owner_name",), 1040),),
    error_body=_creator_error_body,
    render=_creator_render,
    not_found_body=_creator_not_found,
    missing_fields_body=lambda: {"code": 3000, "data": {}},
    count_keys=frozenset({"total_records", "failed_records", "unprocessed_records", "success_records"}),
    payload_key="data",
)

# ---------------------------------------------------------------------------------------------------------
# Zoho Analytics: asynchronous export jobs
# https://www.zoho.com/analytics/api/v2/bulk-api/export-data-async/get-export-job-details.html and
# zoho/analytics-okf v2.0/domains/data-operations/async-data-export/get-export-job-details.md
# ---------------------------------------------------------------------------------------------------------
_ANALYTICS_EXPORT_SUMMARY = "Fetch export job info"
#: analytics-okf async-data-export/overview.md, "Limitations": a job (record and file) is kept 72 hours from
#: its creation (*unverified* against Zoho's page, which says 1 hour after completion); ``expiryTime`` says which.
ANALYTICS_EXPORT_RETENTION_MS = 72 * 3_600_000
_ANALYTICS_EXPORT_ERRORS: dict[CodeT, ErrorInfo] = {
    **_ANALYTICS_ERRORS,
    # analytics-okf async-data-export/download-exported-data.md and get-export-job-details.md, "Error Codes"
    # (the summaries are theirs; https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html lists the codes).
    8120: ErrorInfo(404, "EXPORT_JOB_NOT_FOUND", "Export job not found."),
    8121: ErrorInfo(400, "EXPORT_JOB_NOT_INITIATED", "Export job not initiated."),
    8122: ErrorInfo(400, "EXPORT_JOB_NOT_COMPLETED", "Export job not completed."),
    8123: ErrorInfo(
        400,
        "EXPORT_JOB_ERROR_OCCURRED",
        "An internal error occurred while processing the export job. Kindly contact our support team.",
    ),
    8124: ErrorInfo(403, "EXPORT_JOB_ACCESS_DENIED", "You do not have permission to access the job."),
    # analytics-okf async-data-export/create-export-job-sql-query.md, "Error Codes".
    8132: ErrorInfo(
        400,
        "ASYNC_EXPORT_LIMIT_EXCEEDED",
        "Async export limit reached. Kindly retry once after your previously initiated jobs are completed.",
    ),
    8077: ErrorInfo(400, "EMPTY_JSON_CONFIGURATION", "The CONFIG was not sent, or was sent empty."),
    8078: ErrorInfo(400, "EMPTY_JSON_ATTRIBUTE_FOUND", "The attribute sqlQuery is empty."),
    8001: ErrorInfo(400, "INVALID_RESP_FORMAT", "The responseFormat is not a supported value."),
    8014: ErrorInfo(400, "API_IMAGE_RESPONSE_NOT_POSSIBLE", "Image response is not possible for this view."),
    8015: ErrorInfo(400, "API_EXPORT_COLUMN_NOT_PRESENT", "A column in selectedColumns is not present."),
    8119: ErrorInfo(400, "INVALID_VALUE_FOR_ATTRIBUTE", "Invalid value provided for the attribute."),
    8547: ErrorInfo(400, "ARRAY_SIZE_OUT_OF_RANGE", "The array size is out of range."),
    7835: ErrorInfo(400, "NO_TABLES_INVOLVED_IN_SQL_EXPORT", "No tables are involved in the SQL query."),
    7836: ErrorInfo(400, "GIVEN_TABLE_NOT_INVOLVED_IN_SQL_EXPORT", "The given table is not involved in the SQL query."),
    7571: ErrorInfo(400, "UNKNOWN_VIEWID_PASSED", "The viewId passed does not exist in the workspace."),
    8079: ErrorInfo(
        400, "ATTRIBUTE_NOT_PRESENT_IN_JSON_CONFIGURATION", "A mandatory attribute is not present in the CONFIG."
    ),
    8125: ErrorInfo(400, "CALLBACKURL_NOT_VALID", "The callbackUrl is not valid."),
    8127: ErrorInfo(400, "CALLBACKURL_RESTRICTED", "The callbackUrl resolves to a restricted address."),
    # analytics-okf async-data-export/overview.md, "criteria syntax": 7330 a column not in the view, 7331 a
    # malformed expression (summaries *unverified*).
    7330: ErrorInfo(400, "CRITERIA_COLUMN_NOT_PRESENT", "The column mentioned in the criteria is not present."),
    7331: ErrorInfo(400, "INVALID_CRITERIA", "The criteria is not a valid expression."),
    # https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html: 7403 the SQL query could not be parsed,
    # 8004 a column of the criteria (the WHERE clause) is not in the table.
    7403: ErrorInfo(400, "SQL_PARSING_FAILED", "Parsing of SQL query failed."),
    8004: ErrorInfo(
        400, "CRITERIA_COLUMN_NOT_PRESENT", "The column mentioned in the criteria is not present in the table."
    ),
    # *unverified* for SQL exports: https://zoho.com/analytics/api/v1/common-error-codes.html, 7105 "View name
    # specified in the Workspace does not exist" and 7107 "The column is not present in the specified Table".
    7105: ErrorInfo(400, "VIEW_NOT_PRESENT", "The table named in the SQL query does not exist in the workspace."),
    7107: ErrorInfo(400, "COLUMN_NOT_PRESENT", "The column named in the SQL query is not present in the table."),
}


def _analytics_export_render(job: JobSpec, written: str, canonical: str) -> JSON:
    data: JSON = {"jobId": job.job_id, "jobCode": canonical, "jobStatus": _ANALYTICS_STATUS_TEXT[canonical]}
    if canonical == "1004":  # "downloadUrl and expiryTime are present only when jobCode is 1004"
        # A job the create endpoint made knows its absolute URL; one added by a test gets the path alone.
        default = f"/restapi/v2/bulk/workspaces/{job.coordinates.get('workspace_id')}/exportjobs/{job.job_id}/data"
        data["downloadUrl"] = job.details.get("download_url") or default
        data["expiryTime"] = str(int(job.created_at * 1000) + ANALYTICS_EXPORT_RETENTION_MS)
    return {"status": "success", "summary": _ANALYTICS_EXPORT_SUMMARY, "data": data}


def _analytics_export_not_found(product: EmulatedProduct, job_id: str) -> Answer:
    # get-export-job-details.md, "Notes & Behaviour": a well-formed id of no job (or an expired one) answers 200
    # with jobCode 1005; a structurally unresolvable id answers 8120 (404).
    if not job_id.isdigit():
        return product.error(8120)
    data = {"jobId": job_id, "jobCode": "1005", "jobStatus": _ANALYTICS_STATUS_TEXT["1005"]}
    return Answer(200, {"status": "success", "summary": _ANALYTICS_EXPORT_SUMMARY, "data": data})


ANALYTICS_EXPORT = EmulatedProduct(
    kind="analytics_export",
    route="/restapi/v2/bulk/workspaces/{workspace_id}/exportjobs/{job_id}",
    coordinates={"workspace_id": ("path", "workspace_id"), "org_id": ("header", "ZANALYTICS-ORGID")},
    optional_coordinates=frozenset(),
    states={code: code for code in _ANALYTICS_STATUS_TEXT},
    initial_state="1001",
    errors=_ANALYTICS_EXPORT_ERRORS,
    fallback_status=400,
    code_type=int,
    invalid_token_code=8535,
    rate_limit_code=6045,
    server_error_code=7005,
    required_header="ZANALYTICS-ORGID",
    missing_header_code=8083,
    scopes=((("workspace_id",), 7103), (("org_id", "workspace_id"), 7387)),
    error_body=_analytics_error_body,
    render=_analytics_export_render,
    not_found_body=_analytics_export_not_found,
    missing_fields_body=lambda: {"status": "success", "summary": _ANALYTICS_EXPORT_SUMMARY, "data": {}},
    count_keys=frozenset(),
    payload_key="data",
)


# ---------------------------------------------------------------------------------------------------------
# Zoho Creator: bulk read jobs
# https://www.zoho.com/creator/help/api/v2.1/bulk-read-api/get-bulk-read-job-status.html: "status" IN PROGRESS,
# COMPLETED, FAILED (spelled In-progress, Completed, Failed as the bulk insert's; any spelling is accepted in
# scripts and reported verbatim); "result" {count, download_url, record_cursor} only once completed, and the
# last batch carries no record_cursor. *unverified*: Queued (the provider waits on it; no Zoho page shows it).
# ---------------------------------------------------------------------------------------------------------
_CREATOR_READ_STATES = {emulator_state_key(s): s for s in ("In-progress", "Queued", "Completed", "Failed")}


def _creator_read_render(job: JobSpec, written: str, canonical: str) -> JSON:
    details: JSON = {
        "id": job.job_id,
        "operation": "read",
        "created_by": job.details.get("created_by", job.coordinates.get("account_owner_name")),
        "created_time": job.details.get("created_time", _iso_time(job.created_at)),
        "status": written,
        "query": dict(job.details.get("query", {})),
    }
    if canonical == "Completed":
        owner, app, report = (
            job.coordinates.get(n) for n in ("account_owner_name", "app_link_name", "report_link_name")
        )
        # The documented download_url is the legacy /api/bulk/v2.1/... form (get-bulk-read-job-status.html's sample).
        result: JSON = {
            "count": job.counts.get("count", 0),
            "download_url": f"/api/bulk/v2.1/{owner}/{app}/report/{report}/read/{job.job_id}/result",
        }
        if job.details.get("record_cursor"):
            result["record_cursor"] = job.details["record_cursor"]
        details["result"] = result
    if canonical == "Failed" and (job.error_code is not None or job.error_message):
        # *unverified*: Creator does not document where a failed read's reason goes.
        details["message"] = job.error_message
        details["error_code"] = job.error_code
    return {"code": 3000, "details": details}


CREATOR_BULK_READ = EmulatedProduct(
    kind="creator_bulk_read",
    route="/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/report/{report_link_name}/read/{job_id}",
    coordinates={
        "account_owner_name": ("path", "account_owner_name"),
        "app_link_name": ("path", "app_link_name"),
        "report_link_name": ("path", "report_link_name"),
        "environment": ("header", "environment"),
    },
    optional_coordinates=frozenset({"environment"}),
    states=_CREATOR_READ_STATES,
    initial_state="In-progress",
    errors=_CREATOR_ERRORS,
    fallback_status=400,
    code_type=int,
    invalid_token_code=1030,
    rate_limit_code=2955,
    server_error_code=2945,
    required_header=None,
    missing_header_code=None,
    scopes=((("account_owner_name",), 1040),),
    error_body=_creator_error_body,
    render=_creator_read_render,
    not_found_body=_creator_not_found,
    missing_fields_body=lambda: {"code": 3000, "details": {}},
    count_keys=frozenset({"count"}),
    payload_key="details",
)

# ---------------------------------------------------------------------------------------------------------
# Zoho CRM and Bigin: bulk read jobs (identical shapes, different paths)
# https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/get-job-details.html and crm-oas v8.0 bulk_read
# getBulkReadJobDetails: {"data": [{id, operation "read", state, query (as the create sent it), file_type,
# created_by, created_time, result?}], "info": {}}; states ADDED, QUEUED, IN PROGRESS, COMPLETED, FAILURE
# (FAILED: the CRM SDK 8.0's spelling, accepted in scripts too); "result" {page, per_page 200000, count,
# download_url (a path relative to the API host), more_records, next_page_token?} only once COMPLETED.
# ---------------------------------------------------------------------------------------------------------
_BULK_READ_STATES = {
    emulator_state_key(s): s for s in ("ADDED", "QUEUED", "IN PROGRESS", "COMPLETED", "FAILURE", "FAILED")
}
#: get-job-details.html: one job exports a page of at most 200,000 records.
BULK_READ_PER_PAGE = 200_000


def _bulk_read_renderer(read_prefix: str) -> Callable[[JobSpec, str, str], JSON]:
    """CRM and Bigin share a body; only the result's download path differs."""

    def render(job: JobSpec, written: str, canonical: str) -> JSON:
        data: JSON = {
            "id": job.job_id,
            "operation": "read",
            "state": written,
            "query": dict(job.details.get("query", {"module": {"api_name": "Contacts"}, "page": 1})),
            "file_type": job.details.get("file_type", "csv"),
            "created_by": {"id": "111111000000035795", "name": "Patricia Boyle"},
            "created_time": _iso_time(job.created_at),
        }
        if "callback" in job.details:  # the create's callback {url, method}, echoed (get-job-details.html)
            data["callback"] = dict(job.details["callback"])
        if canonical == "COMPLETED":
            result: JSON = {
                "page": job.details.get("page", 1),
                "per_page": BULK_READ_PER_PAGE,
                "count": job.counts.get("count", 0),
                "download_url": f"{read_prefix}/{job.job_id}/result",
                "more_records": bool(job.details.get("more_records", False)),
            }
            if job.details.get("next_page_token"):  # only while more records remain
                result["next_page_token"] = job.details["next_page_token"]
            data["result"] = result
        return {"data": [data], "info": {}}

    return render


def _bulk_read_product(kind: str, read_prefix: str) -> EmulatedProduct:
    return EmulatedProduct(
        kind=kind,
        route=read_prefix + "/{job_id}",
        coordinates={},
        optional_coordinates=frozenset(),
        states=_BULK_READ_STATES,
        initial_state="ADDED",
        errors=_BULK_WRITE_ERRORS,
        fallback_status=400,
        code_type=str,
        invalid_token_code="INVALID_TOKEN",
        rate_limit_code="TOO_MANY_REQUESTS",
        server_error_code="INTERNAL_ERROR",
        required_header=None,
        missing_header_code=None,
        scopes=(),
        error_body=_bulk_write_error_body,
        render=_bulk_read_renderer(read_prefix),
        not_found_body=_bulk_write_not_found,  # RESOURCE_NOT_FOUND, HTTP 404 (get-job-details.html)
        missing_fields_body=lambda: {"data": [{}], "info": {}},
        count_keys=frozenset({"count"}),
    )


CRM_BULK_READ = _bulk_read_product("crm_bulk_read", "/crm/bulk/v8/read")
BIGIN_BULK_READ = _bulk_read_product("bigin_bulk_read", "/bigin/bulk/v2/read")

#: The one table the server consults: kind -> product.
EMULATED_PRODUCTS: Mapping[str, EmulatedProduct] = {
    product.kind: product for product in (ANALYTICS, CRM, BIGIN, CREATOR)
} | {product.kind: product for product in (ANALYTICS_EXPORT, CREATOR_BULK_READ)}
EMULATED_PRODUCTS = {**EMULATED_PRODUCTS, **{product.kind: product for product in (CRM_BULK_READ, BIGIN_BULK_READ)}}
assert tuple(EMULATED_PRODUCTS) == EMULATED_KINDS
