"""The write side of CRM and Bigin bulk write in the emulator: org API, upload, create, per-row outcomes, results.

A job created here joins the emulator's job table, so its status GETs walk a script like any registered job;
what the status answer says (module, operation, file, counts, result link) comes from what was uploaded and
asked for. Which rows land is scripted (``Outcomes``): rows skipped by line with Zoho's record-level codes,
rows left unprocessed, and mandatory columns whose empty value skips a row, so a test or demo decides.

Creates are checked against the org's account (``crm_account.Account``: modules, fields, records) as Zoho
checks them: the module, the mapped fields, the column indexes, the mandatory fields; records keep their ids,
so an update by ``id`` or an upsert by a unique field finds what an insert created.  The account also answers
Zoho's metadata APIs (``settings/modules``, ``settings/fields``), routed here.

Facts: ``docs/zoho-api.md``, "Creating jobs" ("CRM v8 and Bigin v2 bulk write"), from
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/upload-file.html,
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/create-job.html,
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/limitations.html and
https://www.bigin.com/developer/docs/apis/v2/bulk-write/overview.html; the create's 400 variants from the
OpenAPI files of Zoho's ``zoho/crm-oas`` repository (v8.0, bulk write ``createBulkWriteJob``).  Anything marked
*unverified* is a plausible guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import json
import threading
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from airflow_provider_zoho.testing.crm_account import Account, Module
from airflow_provider_zoho.testing.dialects import (
    EMULATED_PRODUCTS,
    Answer,
    EmulatedProduct,
    JobSpec,
    emulator_state_key,
)
from airflow_provider_zoho.testing.incoming import access_token, multipart_parts
from airflow_provider_zoho.testing.store import JobTable

__all__ = [
    "CRM_MODULES_ADMIN_PATH",
    "ORG_ZGID",
    "WRITE_APIS",
    "BulkWrites",
    "CreatedJob",
    "Outcomes",
    "Upload",
    "WriteApi",
]

ORG_ZGID = "6196138"
MAX_ZIP_BYTES = 25 * 1024 * 1024
MAX_RECORDS = 25_000
MAX_COLUMNS = 200
OPERATIONS = ("insert", "update", "upsert")
DEFAULT_SCRIPT = ("IN PROGRESS", "COMPLETED")
RESULT_COLUMNS = ("STATUS", "RECORD_ID", "ERRORS")
# Under the emulator's admin prefix (server.ADMIN_PREFIX, not imported: server imports this module).
CRM_MODULES_ADMIN_PATH = "/__emulator__/crm_modules"
# The states after which Zoho calls a job's callback (create-job.html: "once the job is completed or failed").
CALLBACK_STATES = frozenset({"COMPLETED", "FAILED", "JOBFAILED"})
# The only hosts the emulator itself POSTs a callback to: it never reaches out beyond this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CALLBACK_POLL_SECONDS = 0.05
# The upload's refusal of missing headers, as Zoho's CRM SDK 8.0 spells it (json_details.json, bulk_write APIException).
MISSING_HEADERS_ERROR = "check if headers [feature, X-CRM-ORG] are present and valid"
CALLBACK_WAIT_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class WriteApi:
    """One product's write endpoints (CRM v8, Bigin v2): the same API under other paths.

    :param kind: the job kind its jobs are registered as.
    :param org_path: the org lookup (``GET``), where a client finds the org's zgid.
    :param upload_path: the file upload (``POST``, a zip).
    :param create_path: the job create (``POST``, JSON).
    :param download_prefix: where result zips are served, below the download base.
    :param settings_prefix: the metadata APIs' prefix (``{prefix}/modules``, ``{prefix}/fields``).
    :param account: the account's product its modules belong to (``crm``, ``bigin``).
    :param module_object: the create's ``module`` must be ``{"api_name": ...}`` (CRM v8), not a plain string.
    """

    kind: str
    org_path: str
    upload_path: str
    create_path: str
    download_prefix: str
    settings_prefix: str
    account: str
    module_object: bool

    @property
    def product(self) -> EmulatedProduct:
        """The emulated product these endpoints belong to."""
        return EMULATED_PRODUCTS[self.kind]


WRITE_APIS: tuple[WriteApi, ...] = (
    WriteApi(
        "crm_bulk_write",
        "/crm/v8/org",
        "/crm/v8/upload",
        "/crm/bulk/v8/write",
        f"/v8/crm/org{ORG_ZGID}",
        "/crm/v8/settings",
        "crm",
        # crm-oas v8.0 createBulkWriteJob: resource[].module is an object with a required api_name.
        module_object=True,
    ),
    WriteApi(
        "bigin_bulk_write",
        "/bigin/v2/org",
        "/bigin/v2/upload",
        "/bigin/bulk/v2/write",
        f"/v2/bigin/org{ORG_ZGID}",
        "/bigin/v2/settings",
        "bigin",
        # *unverified*: Bigin's v2 samples show both forms; the emulator takes both.
        module_object=False,
    ),
)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How jobs created from now on treat their rows, and the states their status GETs walk through.

    ``skipped`` maps a row (its line in the uploaded file, the header being line 1) to Zoho's ``ERRORS``
    value (``"DUPLICATE_DATA-Email"``); ``unprocessed`` rows are left untouched; a row whose column in
    ``mandatory`` is empty is skipped with ``MANDATORY_NOT_FOUND-<column>``; by default (None) those columns
    are the module's ``system_mandatory`` fields the job maps, as Zoho does.

    :param skipped: rows to skip, by line, with their ``ERRORS`` value.
    :param unprocessed: rows to leave unprocessed, by line.
    :param mandatory: columns whose empty value skips a row; None: the module's mapped mandatory fields.
    :param script: the states the jobs' status GETs walk through, as CRM spells them.
    """

    skipped: Mapping[int, str] = field(default_factory=dict)
    unprocessed: frozenset[int] = frozenset()
    mandatory: tuple[str, ...] | None = None
    script: tuple[str, ...] = DEFAULT_SCRIPT

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Outcomes:
        """Read the admin API's form: ``{"skipped": {"3": "INVALID_DATA-Email"}, "unprocessed": [5], ...}``.

        :param payload: the decoded JSON object.
        :return: the outcomes.
        :raises ValueError: an unknown key, or a line that is not a number.
        """
        unknown = set(payload) - {"skipped", "unprocessed", "mandatory", "script"}
        if unknown:
            raise ValueError(
                f"bulk write outcomes take skipped, unprocessed, mandatory and script, not {sorted(unknown)}"
            )
        return cls(
            skipped={int(line): str(errors) for line, errors in dict(payload.get("skipped") or {}).items()},
            unprocessed=frozenset(int(line) for line in payload.get("unprocessed") or ()),
            mandatory=None if payload.get("mandatory") is None else tuple(str(name) for name in payload["mandatory"]),
            script=tuple(str(step) for step in payload.get("script") or DEFAULT_SCRIPT),
        )


@dataclass(frozen=True, slots=True)
class Upload:
    """A file as the upload endpoint received it.

    :param file_id: the id the upload answered, which a create names.
    :param kind: the product it was uploaded to.
    :param zip_names: the names inside the zip.
    :param csv_name: the CSV's name.
    :param csv_text: the CSV's text.
    :param headers: the upload request's headers.
    """

    file_id: str
    kind: str
    zip_names: tuple[str, ...]
    csv_name: str
    csv_text: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CreatedJob:
    """A job as the create endpoint received it: the request body and each row's outcome.

    :param kind: the product it was created in.
    :param job_id: the id the create answered.
    :param body: the create request's JSON body.
    :param columns: the result CSV's first columns: the first three mapped input columns.
    :param rows: each row's result: those columns' values, then STATUS, RECORD_ID, ERRORS.
    """

    kind: str
    job_id: str
    body: Mapping[str, Any]
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the first three mapped columns, then STATUS, RECORD_ID, ERRORS


def _error(api: WriteApi, code: str, status: int | None = None, message: str | None = None) -> web.Response:
    return _json(api.product.error(code, status, message=message))


def _json(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status,
        body=json.dumps(answer.body).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=dict(answer.headers),
    )


class BulkWrites:
    """The write endpoints' state (uploads, created jobs, records by module) and their aiohttp handlers.

    :param jobs: the emulator's job table, which created jobs join and which checks access tokens.
    """

    def __init__(self, jobs: JobTable) -> None:
        """Start with no uploads, jobs or records; result links point nowhere until ``download_base`` is set."""
        self._jobs = jobs
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.outcomes = Outcomes()
        self.download_base = ""  # set once the emulator listens
        self.uploads: dict[str, Upload] = {}
        self.created: dict[str, CreatedJob] = {}
        self.account = Account()  # modules, fields and the records written, per product
        #: what each callback POST the emulator made carried: ``(url, job details body, HTTP status or error)``.
        self.callbacks_sent: list[tuple[str, dict[str, Any], int | str]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        """Route CRM's and Bigin's org, upload, create and result-download paths to this object.

        :param app: the emulator's application.
        """
        for api in WRITE_APIS:
            app.router.add_get(api.org_path, self._bind(self.org, api))
            app.router.add_post(api.upload_path, self._bind(self.upload, api))
            app.router.add_post(api.create_path, self._bind(self.create, api))
            app.router.add_get(api.download_prefix + "/bulk-write/{job_id}/{name}", self._bind(self.download, api))
            app.router.add_get(api.settings_prefix + "/modules", self._bind(self.settings_modules, api))
            app.router.add_get(api.settings_prefix + "/fields", self._bind(self.settings_fields, api))
        app.router.add_post(CRM_MODULES_ADMIN_PATH, self.admin_crm_modules)

    async def admin_crm_modules(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/crm_modules``: declare modules of the CRM or Bigin org.

        :param request: the POST; its JSON body is :meth:`Account.declare_from_json`'s form,
            ``{"product": "crm", "modules": [{"api_name": "Vendors", "fields": [...]}]}``.
        :return: ``{"ok": true, "modules": [...]}``, or HTTP 400 with ``{"ok": false, "error": ...}``.
        """
        try:
            declared = self.account.declare_from_json(await request.json())
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True, "modules": declared})

    async def settings_modules(self, api: WriteApi, _request: web.Request) -> web.StreamResponse:
        """Serve ``GET .../settings/modules``: the org's modules (module-meta.html's shape).

        :param api: the product's endpoints.
        :param _request: the GET.
        :return: ``{"modules": [...]}``.
        """
        return web.json_response(self.account.modules_json(api.account))

    async def settings_fields(self, api: WriteApi, request: web.Request) -> web.StreamResponse:
        """Serve ``GET .../settings/fields?module=...``: a module's fields (field-meta.html's shape).

        :param api: the product's endpoints.
        :param request: the GET.
        :return: ``{"fields": [...]}``; without ``module`` Zoho's ``REQUIRED_PARAM_MISSING``, for a module the
            org lacks ``INVALID_MODULE`` (both HTTP 400, crm-oas v8.0 fields ``getFields``).
        """
        name = request.query.get("module", "")
        if not name:
            return _detailed(
                api, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", param_name="module"
            )
        body = self.account.fields_json(api.account, name)
        if body is None:
            return _detailed(api, "INVALID_MODULE", "the module name given seems to be invalid", param_name="module")
        return web.json_response(body)

    def _bind(
        self, handler: Callable[[WriteApi, web.Request], Awaitable[web.StreamResponse]], api: WriteApi
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def bound(request: web.Request) -> web.StreamResponse:
            if not self._jobs.token_valid(access_token(request)):
                return _json(api.product.invalid_token())
            return await handler(api, request)

        return bound

    def _next_id(self, base: int) -> str:
        with self.lock:
            return str(base + next(self._ids))

    async def org(self, _api: WriteApi, _request: web.Request) -> web.StreamResponse:
        """Serve the org lookup: one org, whose zgid the upload's ``X-CRM-ORG`` header must carry.

        :param _api: the product's endpoints.
        :param _request: the GET.
        :return: the org, as ``org[0]``.
        """
        org = {"id": "4150868000000225013", "zgid": ORG_ZGID, "company_name": "Zylker", "domain_name": "zylker"}
        return web.json_response({"org": [org]})

    async def upload(self, api: WriteApi, request: web.Request) -> web.StreamResponse:
        """Serve a file upload: check the headers and the zip as Zoho does, then keep its CSV.

        :param api: the product's endpoints.
        :param request: the multipart POST.
        :return: ``FILE_UPLOAD_SUCCESS`` with the file id, or Zoho's error for what is wrong.
        """
        missing = [name for name in ("feature", "X-CRM-ORG") if not request.headers.get(name)]
        if missing:
            # Zoho names missing headers in ``x-error`` (upload-file.html). Zoho's CRM SDK 8.0 models this refusal
            # (its bulk_write APIException) with an ``x-error`` key reading MISSING_HEADERS_ERROR: without that key
            # the SDK takes the answer for a SuccessResponse. The code beside it is *unverified*.
            error = api.product.error("INVALID_REQUEST", 400, (("x-error", MISSING_HEADERS_ERROR),))
            return _json(Answer(error.status, {**error.body, "x-error": MISSING_HEADERS_ERROR}, headers=error.headers))
        if request.headers["feature"] != "bulk-write" or request.headers["X-CRM-ORG"] != ORG_ZGID:
            return _error(api, "INVALID_DATA", 400, "feature must be bulk-write and X-CRM-ORG the org's zgid")
        data = multipart_parts(request.headers.get("Content-Type", ""), await request.read()).get("file")
        if data is None:
            return _error(api, "INVALID_FILE_FORMAT", 400, "no multipart field 'file'")
        if len(data) > MAX_ZIP_BYTES:
            return _error(api, "FILE_TOO_LARGE", 413, "the zip is larger than 25 MB")
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = tuple(archive.namelist())
                csvs = [name for name in names if name.lower().endswith(".csv")]
                if len(csvs) != 1:
                    raise zipfile.BadZipFile(f"{len(csvs)} CSV files")
                text = archive.read(csvs[0]).decode("utf-8-sig")
        except (zipfile.BadZipFile, UnicodeDecodeError):
            return _error(api, "INVALID_FILE_FORMAT", 400, "only a zip holding one UTF-8 CSV file is accepted")
        file_id = self._next_id(4_150_868_000_000_000_000)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
        with self.lock:
            self.uploads[file_id] = Upload(file_id, api.kind, names, csvs[0], text, headers)
        details = {"file_id": file_id, "created_time": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
        return web.json_response(
            {"status": "success", "code": "FILE_UPLOAD_SUCCESS", "message": "file uploaded.", "details": details}
        )

    async def create(self, api: WriteApi, request: web.Request) -> web.StreamResponse:
        """Serve a job create: check the body against the upload and the org's module, decide each row.

        :param api: the product's endpoints.
        :param request: the JSON POST.
        :return: 201 with the job id, or Zoho's 400 for what is wrong.
        """
        # crm-oas v8.0 createBulkWriteJob: the request body is application/json; JSON sent under another type
        # (text/plain...) is REQUEST_BODY_NOT_SUPPORTED.
        if request.content_type != "application/json":
            return _detailed(api, "REQUEST_BODY_NOT_SUPPORTED", "the request body must be sent as application/json")
        try:
            body = await request.json()
        except ValueError:
            return _error(api, "INVALID_REQUEST", 400, "the body is not JSON")
        problem = self._create_problem(body, api)
        if problem is not None:
            return problem
        resource = body["resource"][0]
        upload = self.uploads[str(resource["file_id"])]
        module = self.account.module(api.account, _api_name(resource["module"]) or "")
        assert module is not None  # _create_problem checked it
        reader = csv.reader(io.StringIO(upload.csv_text))
        header = next(reader, [])
        records = list(reader)
        if len(records) > MAX_RECORDS or len(header) > MAX_COLUMNS:
            return _error(api, "INVALID_DATA", 400, "a CSV holds at most 25,000 records and 200 columns")
        mappings = resource.get("field_mappings")
        problem = _mapping_problem(api, module, header, mappings, body["operation"])
        if problem is not None:
            return problem
        mapped = _mapped_columns(header, mappings)
        job_id = self._next_id(111_111_000_000_000_000)
        with self.account.lock:  # the job's rows are written as one, against the account as it stands
            write = _Write(
                api.account,
                module,
                body["operation"],
                resource.get("find_by"),
                resource.get("ignore_empty"),
                _UniqueIndex.of(self.account, api.account, module),
            )
            rows = tuple(self._outcome(write, mapped, n, r) for n, r in enumerate(records, 2))
        counts = {
            f"{status}_count": sum(1 for row in rows if row[-3] == status) for status in ("added", "updated", "skipped")
        }
        counts["total_count"] = len(rows)
        details: dict[str, Any] = {
            "module": module.api_name,
            "operation": body["operation"],
            "file_name": upload.csv_name,
            "download_url": f"{self.download_base}{api.download_prefix}/bulk-write/{job_id}/{job_id}.zip",
            # get-status.html / crm-oas v8.0 getBulkWriteJobDetails: the resource echoes the create's field
            # mappings (each with api_name and index), find_by and ignore_empty; the job its callback.
            "field_mappings": [_echoed_mapping(m) for m in mapped],
        }
        for key in ("find_by", "ignore_empty"):
            if resource.get(key) is not None:
                details[key] = resource[key]
        if body.get("callback") is not None:
            details["callback"] = {"url": body["callback"]["url"], "method": body["callback"]["method"]}
        spec = JobSpec(api.kind, job_id, self.outcomes.script, {}, counts, None, None, time.time(), details)
        with self.lock:
            self.created[job_id] = CreatedJob(api.kind, job_id, body, tuple(m.api_name for m in mapped[:3]), rows)
        self._jobs.add_job(spec, api.product)
        if "callback" in details and _loopback(details["callback"]["url"]):
            task = asyncio.get_running_loop().create_task(self._call_back(api, spec, details["callback"]["url"]))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)
        created_by = {"id": "111111000000035795", "name": "Patricia Boyle"}
        return web.json_response(
            {
                "status": "success",
                "code": "SUCCESS",
                "message": "success",
                "details": {"id": job_id, "created_by": created_by},
            },
            status=201,
        )

    def _create_problem(self, body: Any, api: WriteApi) -> web.Response | None:
        """Zoho's 400 for a create body it refuses before reading the file, or None (crm-oas v8.0 variants)."""
        if not isinstance(body, dict) or "operation" not in body or not isinstance(body.get("resource"), list):
            return _detailed(api, "MISSING_REQUIRED_KEY", "operation and resource are required", json_path="$")
        if body["operation"] not in OPERATIONS:
            return _error(api, "INVALID_DATA", 400, f"operation must be one of {', '.join(OPERATIONS)}")
        if "callback" in body and (problem := _callback_problem(api, body["callback"])) is not None:
            return problem
        if len(body["resource"]) != 1 or not isinstance(body["resource"][0], dict):
            return _error(api, "INVALID_DATA", 400, "the emulator takes one resource per job")
        resource = body["resource"][0]
        if resource.get("type") != "data" or "module" not in resource:
            return _detailed(
                api,
                "MISSING_REQUIRED_KEY",
                "resource needs type 'data' and module {api_name}",
                json_path="$.resource[0]",
            )
        if api.module_object and not isinstance(resource["module"], dict):
            # crm-oas v8.0: resource[].module is an object {api_name}; a plain string is a value of the wrong
            # type, INVALID_DATA ("one of the supplied values is invalid or has an unsupported type").
            return _detailed(
                api, "INVALID_DATA", "module must be an object {api_name}", json_path="$.resource[0].module"
            )
        name = _api_name(resource["module"])
        if name is None:
            return _detailed(api, "MISSING_REQUIRED_KEY", "module needs api_name", json_path="$.resource[0].module")
        module = self.account.module(api.account, name)
        if module is None:
            # crm-oas v8.0: MODULE_NOT_AVAILABLE, "the supplied module API name does not match any module".
            return _detailed(api, "MODULE_NOT_AVAILABLE", f"the module {name} is not available", api_name=name)
        upload = self.uploads.get(str(resource.get("file_id")))
        if upload is None or upload.kind != api.kind:
            return _error(api, "INVALID_FILE_ID", 400, "no uploaded file with this file_id")
        find_by = resource.get("find_by")
        if body["operation"] in ("update", "upsert") and not find_by:
            # crm-oas v8.0: MANDATORY_NOT_FOUND, "Required key find_by is not available".
            return _error(api, "MANDATORY_NOT_FOUND", 400, "Required key find_by is not available")
        if find_by and find_by != "id" and not getattr(module.field(str(find_by)), "unique", False):
            # docs/zoho-api.md "Creating jobs": find_by is a unique field's API name, or id (code *unverified*).
            return _detailed(
                api, "INVALID_DATA", f"find_by {find_by} is not id or a unique field of {name}", api_name=str(find_by)
            )
        return None

    def _outcome(self, write: _Write, mapped: list[_Mapping], line: int, record: list[str]) -> tuple[str, ...]:
        values = {m.api_name: m.value(record) for m in mapped}
        first = tuple(values[m.api_name] for m in mapped[:3])
        outcomes = self.outcomes
        if line in outcomes.unprocessed:
            return (*first, "unprocessed", "", "")
        if line in outcomes.skipped:
            return (*first, "skipped", "", outcomes.skipped[line])
        # A record lacking a system_mandatory field is skipped with MANDATORY_NOT_FOUND-<field> (Zoho's
        # download-result page); by default the module's mandatory fields the job maps, else the scripted ones.
        mandatory = (
            [name for name in write.module.mandatory if name in values]
            if outcomes.mandatory is None
            else outcomes.mandatory
        )
        if empty := [name for name in mandatory if not values.get(name, "").strip()]:
            return (*first, "skipped", "", ":".join(f"MANDATORY_NOT_FOUND-{name}" for name in empty))
        fields = {name: value for name, value in values.items() if name != "id"}
        account, product, module = self.account, write.product, write.module.api_name
        with account.lock:
            existing = (
                account.find(product, module, write.find_by, values.get(write.find_by, "")) if write.find_by else None
            )
            if write.operation == "update" and existing is None:
                return (*first, "skipped", "", f"RESOURCE_NOT_FOUND-{write.find_by}")
            if write.operation == "insert" or existing is None:
                if duplicates := write.unique.duplicates(fields, None):
                    return (*first, "skipped", "", _duplicate_errors(duplicates))
                record_id = account.insert(product, module, fields)
                write.unique.record(record_id, fields)
                return (*first, "added", record_id, "")
            if duplicates := write.unique.duplicates(fields, existing):
                return (*first, "skipped", "", _duplicate_errors(duplicates))
            if write.ignore_empty:  # create-job.html: ignore_empty keeps a field whose cell is empty
                fields = {name: value for name, value in fields.items() if value}
            account.update(product, module, existing, fields)
            write.unique.record(existing, fields)
        return (*first, "updated", existing, "")

    async def _call_back(self, api: WriteApi, spec: JobSpec, url: str) -> None:
        """POST the job's details to its loopback callback URL once its status reaches COMPLETED or FAILED.

        Zoho posts a job's details to its callback URL "once the job is completed or failed" (create-job.html);
        the body's exact shape is *unverified*: the emulator sends what a status GET would answer then. Its jobs
        move as their status GETs walk the script, so the POST follows the GET that reports the end (or comes
        at once for a script that starts there).
        """
        deadline = time.monotonic() + CALLBACK_WAIT_SECONDS
        state = self._jobs.job_state(api.kind, spec.job_id)
        while state is None or emulator_state_key(state) not in CALLBACK_STATES:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(CALLBACK_POLL_SECONDS)
            state = self._jobs.job_state(api.kind, spec.job_id)
        body = api.product.state(spec, state).body
        outcome: int | str
        try:
            timeout = aiohttp.ClientTimeout(total=10)
            async with (
                aiohttp.ClientSession(timeout=timeout, trust_env=False) as session,
                session.post(url, json=body) as response,
            ):
                outcome = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.callbacks_sent.append((url, body, outcome))

    async def download(self, api: WriteApi, request: web.Request) -> web.StreamResponse:
        """Serve a job's result: a zip of one CSV, each row's mapped columns then STATUS, RECORD_ID, ERRORS.

        :param api: the product's endpoints.
        :param request: the GET of the result link.
        :return: the zip, named ``<job_id>.zip`` in ``Content-Disposition`` (where Zoho's CRM SDK 8.0 reads the
            file's name), or ``RESOURCE_NOT_FOUND`` for a job this product did not create.
        """
        created = self.created.get(request.match_info["job_id"])
        if created is None or created.kind != api.kind:
            return _error(api, "RESOURCE_NOT_FOUND")
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow((*created.columns, *RESULT_COLUMNS))
        writer.writerows(created.rows)
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{created.job_id}.csv", text.getvalue())
        disposition = f'attachment; filename="{created.job_id}.zip"'
        return web.Response(
            body=data.getvalue(), content_type="application/zip", headers={"Content-Disposition": disposition}
        )


@dataclass(frozen=True, slots=True)
class _Write:
    """What a job writes: the account's product, the module, the operation and how it matches records."""

    product: str
    module: Module
    operation: str
    find_by: str | None
    ignore_empty: bool | None
    unique: _UniqueIndex


@dataclass(frozen=True, slots=True)
class _Mapping:
    """A field a job fills: from a CSV column (``index``), else its ``default_value``."""

    api_name: str
    index: int | None
    default: str

    def value(self, record: list[str]) -> str:
        cell = record[self.index] if self.index is not None and self.index < len(record) else ""
        return cell if cell else self.default


def _api_name(module: Any) -> str | None:
    value = module.get("api_name") if isinstance(module, dict) else module
    return value if isinstance(value, str) and value else None


def _detailed(api: WriteApi, code: str, message: str, **details: Any) -> web.Response:
    """Zoho's CRM error body with ``details`` filled (``json_path``, ``api_name``...), HTTP 400."""
    body = {"code": code, "details": details, "message": message, "status": "error"}
    return _json(Answer(400, body))


def _known_field(module: Module, name: str) -> bool:
    """Tell whether ``name`` is a field of the module, the record ``id``, or a lookup's field (``A.B``)."""
    if name == "id" or module.field(name) is not None:
        return True
    lookup, _, _rest = name.partition(".")
    field = module.field(lookup)
    return bool(_rest) and field is not None and field.lookup is not None


def _mapping_problem(
    api: WriteApi, module: Module, header: list[str], mappings: Any, operation: str
) -> web.Response | None:
    """Zoho's 400 for field mappings (or, without them, a CSV header) its module refuses, or None."""
    path = "$.resource[0].field_mappings"
    if mappings is None:
        names = header
    else:
        if not isinstance(mappings, list):
            return _detailed(api, "INVALID_DATA", "field_mappings must be a list", json_path=path)
        names = []
        for n, mapping in enumerate(mappings):
            if not isinstance(mapping, dict) or not isinstance(mapping.get("api_name"), str):
                # crm-oas v8.0: field_mappings[].api_name is required: MISSING_REQUIRED_KEY with its json_path.
                return _detailed(
                    api, "MISSING_REQUIRED_KEY", "a mapping needs api_name", json_path=f"{path}[{n}].api_name"
                )
            if "index" not in mapping and mapping.get("default_value") is None:
                # crm-oas v8.0: field_mappings[].index is required (Zoho's create-job page also lets a
                # default_value stand alone, which the emulator accepts).
                return _detailed(
                    api,
                    "MISSING_REQUIRED_KEY",
                    "a mapping needs index (the CSV column)",
                    json_path=f"{path}[{n}].index",
                )
            if "index" in mapping:
                index = mapping["index"]
                if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(header):
                    # The index must name a column of the file; crm-oas v8.0 lists no dedicated code for it,
                    # so INVALID_DATA ("one of the supplied values is invalid") with the index (*unverified*).
                    return _detailed(
                        api,
                        "INVALID_DATA",
                        f"column index {index!r} is not in the file ({len(header)} columns)",
                        json_path=f"{path}[{n}].index",
                        index=index,
                    )
            names.append(mapping["api_name"])
    for name in names:
        if not _known_field(module, name):
            # A field the module lacks: INVALID_DATA with the field's api_name (crm-oas v8.0 has no
            # INVALID_FIELD variant for this create; the details' key is *unverified*).
            return _detailed(api, "INVALID_DATA", f"{name} is not a field of {module.api_name}", api_name=name)
    missing = [name for name in module.mandatory if name not in names]
    if operation in ("insert", "upsert") and missing:
        # crm-oas v8.0: MANDATORY_FIELDS_NOT_MAPPED, "one or more mandatory fields on the target module were
        # not mapped"; docs/zoho-api.md: an insert must include all required fields (limitations.html).
        return _detailed(
            api,
            "MANDATORY_FIELDS_NOT_MAPPED",
            f"mandatory fields not mapped: {', '.join(missing)}",
            api_names=missing,
        )
    return None


def _mapped_columns(header: list[str], mappings: Iterable[Any] | None) -> list[_Mapping]:
    """Return the fields a job fills, in mapping order; without mappings, the header names as they are."""
    if not mappings:
        return [_Mapping(name, index, "") for index, name in enumerate(header)]
    return [
        _Mapping(
            str(m["api_name"]),
            int(m["index"]) if "index" in m else None,
            "" if m.get("default_value") is None else str(m["default_value"]),
        )
        for m in mappings
    ]


class _UniqueIndex:
    """The module's unique fields' values, by value (case folded), as a job writes its rows in order.

    Zoho skips a record whose unique field holds a value another record already has with
    ``DUPLICATE_DATA-<field>`` (the bulk write result's record-level codes,
    https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/limitations.html, and the records API's
    DUPLICATE_DATA, https://www.zoho.com/crm/developer/docs/api/v8/insert-records.html): a value already in the
    account, or written by an earlier row of the same file.  The comparison ignores case, as
    :meth:`Account.find` does.  Built once per job so that 25,000 rows are not each compared with every record.
    """

    def __init__(self, fields: tuple[str, ...], records: Mapping[str, Mapping[str, str]]) -> None:
        """Index ``records`` (by id) on ``fields``."""
        self.fields = fields
        self.holders: dict[str, dict[str, str]] = {name: {} for name in fields}  # field -> folded value -> id
        self.values: dict[str, dict[str, str]] = {name: {} for name in fields}  # field -> id -> folded value
        for record_id, values in records.items():
            self.record(record_id, values)

    @classmethod
    def of(cls, account: Account, product: str, module: Module) -> _UniqueIndex:
        """Index the records of ``module`` on its unique fields."""
        unique = tuple(f.api_name for f in module.fields if f.unique)
        return cls(unique, account.records(product, module.api_name) if unique else {})

    def duplicates(self, fields: Mapping[str, str], record_id: str | None) -> list[str]:
        """Return the unique fields whose value in ``fields`` another record holds (not ``record_id``)."""
        return [
            name
            for name in self.fields
            if fields.get(name) and self.holders[name].get(fields[name].casefold(), record_id) != record_id
        ]

    def record(self, record_id: str, fields: Mapping[str, str]) -> None:
        """Note the values a record now holds (an update's new values replace its old ones)."""
        for name in self.fields:
            if name not in fields:
                continue
            old = self.values[name].pop(record_id, None)
            if old is not None and self.holders[name].get(old) == record_id:
                del self.holders[name][old]
            if fields[name]:
                folded = fields[name].casefold()
                self.values[name][record_id] = folded
                self.holders[name].setdefault(folded, record_id)


def _duplicate_errors(names: list[str]) -> str:
    """Return the result's ERRORS value for duplicate fields: ``DUPLICATE_DATA-Email``, several joined by ``:``."""
    return ":".join(f"DUPLICATE_DATA-{name}" for name in names)


def _callback_problem(api: WriteApi, callback: Any) -> web.Response | None:
    """Zoho's 400 for a create's ``callback`` it refuses, or None (crm-oas v8.0 createBulkWriteJob).

    The schema: an object with the required ``url`` (``format: uri``) and ``method`` (enum ``post``); a URL
    that is not one is INVALID_CALLBACK_URL ("Invalid callback URL provided"); another method breaks the enum,
    INVALID_DATA (the spec lists no INVALID_CALLBACK_METHOD for bulk write: the code is *unverified*).
    """
    path = "$.callback"
    if not isinstance(callback, dict):
        return _detailed(api, "INVALID_DATA", "callback must be an object {url, method}", json_path=path)
    for key in ("url", "method"):
        if key not in callback:
            return _detailed(api, "MISSING_REQUIRED_KEY", f"callback needs {key}", json_path=f"{path}.{key}")
    url = callback["url"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return _detailed(api, "INVALID_CALLBACK_URL", "Invalid callback URL provided", json_path=f"{path}.url")
    if callback["method"] != "post":
        return _detailed(api, "INVALID_DATA", "callback method must be post", json_path=f"{path}.method")
    return None


def _loopback(url: str) -> bool:
    """Tell whether a callback URL points at this machine, the only place the emulator POSTs to."""
    with contextlib.suppress(ValueError):
        return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
    return False


def _echoed_mapping(mapping: _Mapping) -> dict[str, Any]:
    """Return a field mapping as a job's details echo it (get-status.html: api_name, index, format, find_by)."""
    echoed: dict[str, Any] = {"api_name": mapping.api_name, "index": mapping.index, "format": None, "find_by": None}
    # crm-oas v8.0 getBulkWriteJobDetails: default_value is echoed as an object {value}.
    echoed["default_value"] = {"value": mapping.default} if mapping.default else None
    return echoed
