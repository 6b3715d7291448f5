"""What the sync and async hooks send to Zoho and how they read the answer, without doing any I/O.

Both hooks build requests and read responses here, so a rule (an error code, a header, the OAuth
HTTP-200-error quirk) is written once and tested without a network.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.errors import error_from_response, make_error
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.redaction import Redactor
from airflow_provider_zoho.hooks.token_cache import AccessToken, is_header_safe
from airflow_provider_zoho.jobs import JobKind, job_id_problem
from airflow_provider_zoho.products import ANALYTICS, CREATOR, Dialect

TOKEN_PATH = "/oauth/v2/token"
# Zoho's tokens live an hour; a lifetime past a day is not one Zoho gives, and would pin a token forever.
MAX_TOKEN_LIFETIME_SECONDS = 86_400.0


@dataclass(frozen=True)
class TokenRequest:
    """A refresh-token grant to send: the accounts server's token URL and the form body.

    The form is kept out of ``repr`` so that logging the request never shows a secret.
    """

    url: str
    form: dict[str, str] = field(repr=False)  # holds the client secret and the refresh token


@dataclass(frozen=True)
class Answer:
    """What a hook got back: the bounded, redacted text and the headers the rules read."""

    status: int
    text: str
    retry_after: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class ApiRequest:
    """A request to a Zoho API, before the token is added: where it goes and how its answer is read.

    ``service`` names the host in messages and decides what a failure means; ``dialect`` is the shape of
    the product's error bodies (see ``errors.ERROR_RULES``).
    """

    url: str
    headers: dict[str, str]
    service: Service
    dialect: Dialect


def token_request(config: ZohoConnectionConfig) -> TokenRequest:
    """Build the refresh-token grant for the connection's accounts server.

    See docs/zoho-api.md, "OAuth (refresh-token grant)".

    :param config: the connection, whose client and refresh token are sent.
    :return: the request.
    """
    # The credentials travel in the form body, never the query string, so no proxy or access log keeps them.
    return TokenRequest(
        url=config.base_url(Service.ACCOUNTS) + TOKEN_PATH,
        form={
            "grant_type": "refresh_token",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "refresh_token": config.refresh_token,
        },
    )


def decode_json(text: str) -> Any:
    """Decode a body, or return ``None`` when it is not JSON (an HTML error page from a gateway, say).

    JSON nested deeper than Python's recursion limit is "not JSON" too: no Zoho answer is that deep.

    :param text: the answer's text.
    :return: the decoded JSON, or None.
    """
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def answer_text(raw: bytes, redactor: Redactor) -> str:
    """Decode an answer's bytes and remove the connection's secrets, before anything is built from the text.

    :param raw: the body as read (already bounded).
    :param redactor: the secrets to remove: the connection's, and the token the request carried.
    :return: the text; bytes that are not UTF-8 become U+FFFD.
    """
    return redactor(raw.decode("utf-8", errors="replace"))


def _invalid_token_answer(service: Service, why: str) -> ZohoError:
    return make_error(Dialect.HTTP, "INVALID_RESPONSE", f"token response {why}", service=service.value)


def _token_lifetime(body: Mapping[str, Any]) -> float | None:
    """Return the seconds the token lives, or ``None`` for a value no sane cache could use (NaN, negative, a word)."""
    # A legacy variant reports seconds in ``expires_in_sec`` and milliseconds in ``expires_in``.
    given = body.get("expires_in_sec", body.get("expires_in", 3600))
    if isinstance(given, bool) or not isinstance(given, int | float):
        return None
    lifetime = float(given)
    return lifetime if math.isfinite(lifetime) and 0 < lifetime <= MAX_TOKEN_LIFETIME_SECONDS else None


def read_token_response(answer: Answer, *, now: float | None = None) -> AccessToken:
    """Read the accounts server's answer to a token request as a token, or raise the error it holds.

    Accounts answers errors with HTTP 200, so success is the presence of ``access_token``.
    A redirect is refused, never followed: it would carry the client secret and refresh token elsewhere.
    A token or lifetime the cache cannot use safely is an invalid answer (polled through), never a token
    that fails every request locally or, with a NaN or negative lifetime, asks for a new one on every poll.

    :param answer: what the token request got back.
    :param now: the epoch time the lifetime counts from; the current time when None.
    :return: the token, its expiry and the API domain Zoho named.
    :raises ZohoError: a redirect (``TOKEN_REDIRECT``), Zoho's error (``invalid_client``, ``Access
        Denied``...) or an answer with no usable token (``INVALID_RESPONSE``).
    """
    if 300 <= answer.status < 400:
        raise redirect_refused(Service.ACCOUNTS, answer.location)
    text = answer.text
    body = decode_json(text)
    if isinstance(body, dict) and body.get("access_token"):
        value = body["access_token"]
        # It goes into an HTTP header: anything but visible ASCII would break or inject headers.
        if not isinstance(value, str) or not is_header_safe(value):
            raise _invalid_token_answer(Service.ACCOUNTS, "holds an access_token that is not a printable token")
        lifetime = _token_lifetime(body)
        if lifetime is None:
            given = body.get("expires_in_sec", body.get("expires_in"))
            raise _invalid_token_answer(
                Service.ACCOUNTS,
                f"gives the token a lifetime of {str(given)[:40]!r}, not a number of seconds up to a day",
            )
        api_domain = body.get("api_domain")
        return AccessToken(
            value=value,
            expires_at=(time.time() if now is None else now) + lifetime,
            api_domain=api_domain if isinstance(api_domain, str) else None,
        )
    error = error_from_response(Dialect.ACCOUNTS, Service.ACCOUNTS.value, answer.status, body, body_text=text)
    if error is None:  # JSON without a token and without an error: nothing Zoho documents.
        error = _invalid_token_answer(Service.ACCOUNTS, "has no access_token")
    raise error


def redirect_refused(service: Service, location: str | None) -> ZohoError:
    """Build the error for a token request answered with a redirect: following it would send the secrets elsewhere.

    :param service: the service the request went to (accounts).
    :param location: the redirect's ``Location`` header; only its host is named.
    :return: a ``TOKEN_REDIRECT`` error, which fails the task.
    """
    host = urlsplit(location or "").hostname or "an unnamed place"
    return make_error(
        Dialect.HTTP,
        "TOKEN_REDIRECT",
        f"the token endpoint redirected to {host}; token requests never follow a redirect, so the client secret "
        "and refresh token stay where they were sent. Check the connection's data_center and host.",
        service=service.value,
    )


def invalid_answer(service: Service, why: str) -> ZohoError:
    """Build the error for an answer the hooks refused to read (too large, an encoding not asked for, an odd body).

    :param service: the service that answered.
    :param why: what was refused, completing "refused ...".
    :return: an ``INVALID_RESPONSE`` error, which a sensor polls through.
    """
    return make_error(Dialect.HTTP, "INVALID_RESPONSE", f"refused {why}", service=service.value)


def job_status_request(
    config: ZohoConnectionConfig, kind: JobKind, coordinates: Mapping[str, str | None]
) -> ApiRequest:
    """Build the GET for a job's status; optional coordinates left out fall back on the connection's.

    :param config: the connection, whose host and defaults (``org_id``, ``environment``) are used.
    :param kind: the job's kind, which knows the path and headers.
    :param coordinates: the job's id and the names its path needs.
    :return: the request.
    """
    merged = dict(coordinates)
    for name in kind.optional_coordinates:
        merged[name] = coordinates.get(name) or config.defaults.get(name)
    return ApiRequest(
        url=config.base_url(kind.service) + kind.url_path(merged),
        headers={"Accept": "application/json", **kind.request_headers(merged)},
        service=kind.service,
        dialect=kind.dialect,
    )


def authorization(token: AccessToken) -> dict[str, str]:
    """Return the ``Authorization`` header Zoho's APIs take: ``Zoho-oauthtoken <token>``, not ``Bearer``.

    :param token: the access token.
    :return: the header, to merge into a request's.
    """
    return {"Authorization": f"Zoho-oauthtoken {token.value}"}


def read_api_response(request: ApiRequest, answer: Answer) -> Any:
    """Return the decoded body of a normal answer; raise the typed ``ZohoError`` the table assigns otherwise.

    :param request: the request answered, whose service and dialect read the answer.
    :param answer: what came back.
    :return: the decoded JSON.
    :raises ZohoError: the answer is an error, with HTTP 200 or not, or not JSON.
    """
    body = decode_json(answer.text)
    error = error_from_response(
        request.dialect,
        request.service.value,
        answer.status,
        body,
        retry_after=answer.retry_after,
        body_text=answer.text,
    )
    if error is not None:
        raise error
    return body


# -- creating jobs: CRM and Bigin bulk write ---------------------------------------------------------------


def api_request(config: ZohoConnectionConfig, path: str, dialect: Dialect = Dialect.CRM) -> ApiRequest:
    """Build a request to the API host of the connection (CRM, Bigin).

    :param config: the connection.
    :param path: the path on the API host.
    :param dialect: how error answers are read.
    :return: the request, asking for JSON.
    """
    return ApiRequest(
        url=config.base_url(Service.API) + path,
        headers={"Accept": "application/json"},
        service=Service.API,
        dialect=dialect,
    )


def _field(body: Any, *path: str) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _required_text(body: Any, what: str, *path: str) -> str:
    value = _field(body, *path)
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise invalid_answer(Service.API, f"an answer without {what} ({'.'.join(path)}): {str(body)[:300]}")
    return value


def read_org_id(body: Any) -> str:
    """Read the org's zgid from ``GET …/org``: ``org[0].zgid``.

    :param body: the decoded answer.
    :return: the zgid.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none.
    """
    org = _field(body, "org")
    return _required_text(org[0] if isinstance(org, list) and org else None, "the org's zgid", "zgid")


def read_file_id(body: Any) -> str:
    """Read the id of an uploaded file: ``details.file_id``.

    :param body: the decoded answer to the upload.
    :return: the file id, which the bulk write job then names.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none.
    """
    return _required_text(body, "the uploaded file's id", "details", "file_id")


def _required_job_id(body: Any, *path: str) -> str:
    """Read a job id from an answer, checked where it enters: it goes into URLs, logs and the task's state."""
    value = _required_text(body, "the new job's id", *path)
    if problem := job_id_problem(value):
        raise invalid_answer(Service.API, f"an answer whose job id ({'.'.join(path)}) {problem}")
    return value


def read_created_job_id(body: Any) -> str:
    """Read the id of a created bulk write job: ``details.id``, Zoho's digits.

    :param body: the decoded answer to the creating POST.
    :return: the job id.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none, or one that is not a job id.
    """
    return _required_job_id(body, "details", "id")


def bulk_write_body(
    *,
    operation: str,
    module: str,
    file_id: str,
    find_by: str | None,
    field_mappings: list[dict[str, Any]] | None,
    ignore_empty: bool,
) -> dict[str, Any]:
    """Build the JSON that creates one bulk write job from one uploaded file.

    See docs/zoho-api.md, "CRM v8 and Bigin v2 bulk write".

    :param operation: ``insert``, ``update`` or ``upsert``.
    :param module: the module's API name (``Leads``, ``Contacts``...).
    :param file_id: the uploaded file's id (``read_file_id``).
    :param find_by: the unique field (or ``id``) that finds existing records, required by Zoho for an update
        or upsert; None leaves it out.
    :param field_mappings: Zoho's field mappings; None or empty leaves them out.
    :param ignore_empty: a field whose cell is empty is left as it is instead of cleared.
    :return: the body to POST.
    """
    resource: dict[str, Any] = {"type": "data", "module": {"api_name": module}, "file_id": file_id}
    if find_by:
        resource["find_by"] = find_by
    if field_mappings:
        resource["field_mappings"] = field_mappings
    return {"operation": operation, "ignore_empty": ignore_empty, "resource": [resource]}


def read_download_url(response: Any) -> str | None:
    """Read a completed bulk write job's result link, ``result.download_url`` (absolute or host-relative).

    :param response: the job's status answer.
    :return: the link, or None when the answer has none.
    """
    url = _field(response, "result", "download_url")
    return url if isinstance(url, str) and url else None


# -- creating jobs: Analytics bulk import ------------------------------------------------------------------


def analytics_import_request(
    config: ZohoConnectionConfig,
    *,
    workspace_id: str,
    view_id: str | None,
    org_id: str,
    import_config: Mapping[str, Any],
    batch: bool = False,
) -> ApiRequest:
    """Build the POST that creates an import job into table ``view_id``, or into a new table when it is None.

    CONFIG goes in the query string: Zoho's API page lists it as a query parameter, while its knowledge repo
    (zoho/analytics-okf) sends it as a multipart part; the emulator accepts both.

    :param config: the connection.
    :param workspace_id: the workspace.
    :param view_id: the table imported into; None creates a new table (named in ``import_config``).
    :param org_id: the organization, sent in its header.
    :param import_config: CONFIG.
    :param batch: the batch import API, for a file over the product's ``file_bytes`` limit.
    :return: the request.
    """
    call = ("import_into_table" if view_id else "import_new_table") + ("_batch" if batch else "")
    path = ANALYTICS.path(call, workspace_id=workspace_id, **({"view_id": view_id} if view_id else {}))
    query = urlencode({"CONFIG": json.dumps(dict(import_config), separators=(",", ":"))})
    return ApiRequest(
        url=f"{config.base_url(ANALYTICS.service)}{path}?{query}",
        headers={"Accept": "application/json", **ANALYTICS.header("org", org_id)},
        service=ANALYTICS.service,
        dialect=ANALYTICS.dialect,
    )


def analytics_import_config(
    *,
    file_type: str,
    on_error: str,
    import_type: str | None,
    matching_columns: list[str] | None,
    table_name: str | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Build CONFIG for an import: ``tableName`` for a new table, else ``importType`` (and ``matchingColumns``).

    See docs/zoho-api.md, "Analytics v2 bulk import".

    :param file_type: Zoho's ``fileType`` (``csv``, ``json``, ``xlsx``...).
    :param on_error: what Zoho does with a row it cannot import (``ABORT``, ``SKIPROW``, ``SETCOLUMNEMPTY``).
    :param import_type: ``APPEND``, ``TRUNCATEADD`` or ``UPDATEADD``, for an existing table.
    :param matching_columns: the columns that match rows for ``UPDATEADD``.
    :param table_name: the new table's name; when given, the import creates a table.
    :param extra: further CONFIG keys, overridden by the ones above; ``autoIdentify`` defaults to true.
    :return: CONFIG, to send with ``analytics_import_request``.
    """
    config: dict[str, Any] = {**(extra or {}), "fileType": file_type, "onError": on_error}
    config.setdefault("autoIdentify", True)
    if table_name:
        config["tableName"] = table_name
    else:
        config["importType"] = import_type
        if matching_columns:
            config["matchingColumns"] = list(matching_columns)
    return config


def read_analytics_job_id(body: Any) -> str:
    """Read the id of a created import job: ``data.jobId``, Zoho's digits.

    :param body: the decoded answer to the import.
    :return: the job id.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none, or one that is not a job id.
    """
    return _required_job_id(body, "data", "jobId")


def read_batch_key(body: Any) -> str:
    """Read the key the next batch of a batch import carries: ``data.batchKey``.

    *Unverified*: Zoho's page names the CONFIG key, not where the answer holds it.

    :param body: the decoded answer to the first batch.
    :return: the batch key.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none.
    """
    return _required_text(body, "the batch key", "data", "batchKey")


def read_optional_job_id(body: Any) -> str | None:
    """Read ``data.jobId`` when an answer has it (a batch import answers it with each batch or with the last).

    :param body: the decoded answer to a batch.
    :return: the job id, or None when the answer has none.
    :raises ZohoError: ``INVALID_RESPONSE`` when the id there is not a job id.
    """
    return None if _field(body, "data", "jobId") in (None, "") else _required_job_id(body, "data", "jobId")


# -- creating jobs: Creator bulk insert and bulk read ------------------------------------------------------

# The two ways Zoho's sources start (and abort) a job: (method, body) per action. The docs' Start/Abort page
# sends PATCH {"data": {"action": "Start"}}; Zoho's Creator OpenAPI file sends PUT {"action": "start"}.
CREATOR_DOCS_STYLE, CREATOR_OPENAPI_STYLE = "docs", "openapi"


def creator_bulk_request(
    config: ZohoConnectionConfig,
    call: str,
    names: Mapping[str, str],
    *,
    environment: str | None,
    query: Mapping[str, str] | None = None,
) -> ApiRequest:
    """Build a request to one of Creator's bulk insert or bulk read paths, with the ``environment`` header when set.

    :param config: the connection.
    :param call: the path in Creator's record (``bulk_insert``, ``bulk_insert_job``, ``bulk_insert_result``;
        ``bulk_read``, ``bulk_read_job``, ``bulk_read_result``).
    :param names: the path's placeholders: the owner and app link names, the form's (insert) or report's (read),
        and the job id where the call takes one.
    :param environment: Creator's environment (``development``, ``stage``); None for production.
    :param query: the query string's parameters.
    :return: the request.
    """
    url = config.base_url(CREATOR.service) + CREATOR.path(call, **names)
    return ApiRequest(
        url=url + ("?" + urlencode(dict(query)) if query else ""),
        headers={"Accept": "application/json", **(CREATOR.header("environment", environment) if environment else {})},
        service=CREATOR.service,
        dialect=CREATOR.dialect,
    )


# Where a job's file goes, in the order tried: the docs' request line ``…/insert/{job_id}``, then their sample's
# and the OpenAPI file's ``…/insert?job_id={job_id}``: (call, whether the job id goes in the query).
CREATOR_UPLOAD_FORMS = (("bulk_insert_job", False), ("bulk_insert", True))


def creator_action(action: str, style: str) -> tuple[str, dict[str, Any]]:
    """Return the ``(method, body)`` that starts or aborts a job, in the docs' style or the OpenAPI file's.

    See ``CREATOR_DOCS_STYLE`` above, and docs/zoho-api.md, "Creator v2.1 bulk insert".

    :param action: ``Start`` or ``Abort`` (any case).
    :param style: ``CREATOR_DOCS_STYLE`` or ``CREATOR_OPENAPI_STYLE``.
    :return: the HTTP method and the JSON body.
    """
    if style == CREATOR_OPENAPI_STYLE:
        return "PUT", {"action": action.lower()}
    return "PATCH", {"data": {"action": action.capitalize()}}


def read_creator_job_id(body: Any) -> str:
    """Read the id of a created bulk insert job: ``details.job_id`` (``data.job_id`` accepted too), Zoho's digits.

    :param body: the decoded answer to the creating POST.
    :return: the job id.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none, or one that is not a job id.
    """
    if _field(body, "details", "job_id") is None and _field(body, "data", "job_id") is not None:
        return _required_job_id(body, "data", "job_id")
    return _required_job_id(body, "details", "job_id")


def analytics_request(config: ZohoConnectionConfig, call: str, org_id: str | None = None, **values: str) -> ApiRequest:
    """Build a GET of one of Analytics' metadata calls, with the organization's header when one is given.

    :param config: the connection.
    :param call: the path in Analytics' record (``orgs``, ``views``, ``view``...).
    :param org_id: the organization, sent in its header (every call but "Get Org List" needs it).
    :param values: the path's placeholders (``workspace_id``, ``view_id``).
    :return: the request.
    """
    return ApiRequest(
        url=config.base_url(ANALYTICS.service) + ANALYTICS.path(call, **values),
        headers={"Accept": "application/json", **(ANALYTICS.header("org", org_id) if org_id else {})},
        service=ANALYTICS.service,
        dialect=ANALYTICS.dialect,
    )


def analytics_orgs_request(config: ZohoConnectionConfig) -> ApiRequest:
    """Build Analytics' "Get Org List" (zoho/analytics-okf): the organizations the token's user belongs to.

    :param config: the connection.
    :return: the request.
    """
    return analytics_request(config, "orgs")


def read_analytics_orgs(body: Any) -> list[str]:
    """Read the ``orgId`` of each organization in a Get Org List answer.

    :param body: the decoded answer.
    :return: the ids as strings; empty for an answer of another shape.
    """
    data = body.get("data") if isinstance(body, dict) else None
    orgs = data.get("orgs") if isinstance(data, dict) else None
    return [str(org["orgId"]) for org in orgs or [] if isinstance(org, dict) and org.get("orgId") is not None]


# -- creating jobs: the read side (CRM and Bigin bulk read, Creator bulk read, Analytics export) ---------------


def read_bulk_read_job_id(body: Any) -> str:
    """Read the id of a created CRM or Bigin bulk read job: ``data[0].details.id``.

    :param body: the decoded answer to the creating POST.
    :return: the job id.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has none, or one that is not a job id.
    """
    data = _field(body, "data")
    return _required_job_id(data[0] if isinstance(data, list) and data else None, "details", "id")


def read_creator_read_job_id(body: Any) -> str:
    """Read the id of a created Creator bulk read job: ``details.id``, or ``details.job_id``.

    *Unverified*: Zoho's bulk read pages show ``details.id``; community code reads ``details.job_id`` too.

    :param body: the decoded answer to the creating POST.
    :return: the job id.
    :raises ZohoError: ``INVALID_RESPONSE`` when the answer has neither, or one that is not a job id.
    """
    key = "job_id" if _field(body, "details", "id") is None and _field(body, "details", "job_id") else "id"
    return _required_job_id(body, "details", key)


def analytics_export_request(
    config: ZohoConnectionConfig,
    workspace_id: str,
    org_id: str,
    export_config: Mapping[str, Any],
    view_id: str | None = None,
) -> ApiRequest:
    """Build the GET that creates an Analytics export job: of a view, or (without ``view_id``) of a SQL query.

    :param config: the connection.
    :param workspace_id: the workspace.
    :param org_id: the organization, in its header.
    :param export_config: Zoho's CONFIG (``responseFormat``, ``sqlQuery``...), sent as a JSON query parameter.
    :param view_id: the table or view; None for a SQL export.
    :return: the request.
    """
    if view_id is None:
        path = ANALYTICS.path("export_sql", workspace_id=workspace_id)
    else:
        path = ANALYTICS.path("export_view", workspace_id=workspace_id, view_id=view_id)
    query = urlencode({"CONFIG": json.dumps(dict(export_config), separators=(",", ":"))})
    return ApiRequest(
        url=f"{config.base_url(ANALYTICS.service)}{path}?{query}",
        headers={"Accept": "application/json", **ANALYTICS.header("org", org_id)},
        service=ANALYTICS.service,
        dialect=ANALYTICS.dialect,
    )
