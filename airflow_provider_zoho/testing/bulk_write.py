"""The write side of CRM and Bigin bulk write in the emulator: org API, upload, create, per-row outcomes, results.

A job created here joins the emulator's job table, so its status GETs walk a script like any registered job;
what the status answer says (module, operation, file, counts, result link) comes from what was uploaded and
asked for. Which rows land is scripted (``Outcomes``): rows skipped by line with Zoho's record-level codes,
rows left unprocessed, and mandatory columns whose empty value skips a row, so a test or demo decides.

Facts: ``docs/zoho-api.md``, "Creating jobs" ("CRM v8 and Bigin v2 bulk write"), from
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/upload-file.html,
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/create-job.html,
https://www.zoho.com/crm/developer/docs/api/v8/bulk-write/limitations.html and
https://www.bigin.com/developer/docs/apis/v2/bulk-write/overview.html.  Anything marked *unverified* is a
plausible guess.
"""

from __future__ import annotations

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

from aiohttp import web

from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, Answer, EmulatedProduct, JobSpec
from airflow_provider_zoho.testing.incoming import access_token, multipart_parts
from airflow_provider_zoho.testing.store import JobTable

__all__ = ["ORG_ZGID", "WRITE_APIS", "BulkWrites", "CreatedJob", "Outcomes", "Upload", "WriteApi"]

ORG_ZGID = "6196138"
MAX_ZIP_BYTES = 25 * 1024 * 1024
MAX_RECORDS = 25_000
MAX_COLUMNS = 200
OPERATIONS = ("insert", "update", "upsert")
DEFAULT_SCRIPT = ("IN PROGRESS", "COMPLETED")
RESULT_COLUMNS = ("STATUS", "RECORD_ID", "ERRORS")


@dataclass(frozen=True, slots=True)
class WriteApi:
    """One product's write endpoints (CRM v8, Bigin v2): the same API under other paths.

    :param kind: the job kind its jobs are registered as.
    :param org_path: the org lookup (``GET``), where a client finds the org's zgid.
    :param upload_path: the file upload (``POST``, a zip).
    :param create_path: the job create (``POST``, JSON).
    :param download_prefix: where result zips are served, below the download base.
    """

    kind: str
    org_path: str
    upload_path: str
    create_path: str
    download_prefix: str

    @property
    def product(self) -> EmulatedProduct:
        """The emulated product these endpoints belong to."""
        return EMULATED_PRODUCTS[self.kind]


WRITE_APIS: tuple[WriteApi, ...] = (
    WriteApi("crm_bulk_write", "/crm/v8/org", "/crm/v8/upload", "/crm/bulk/v8/write", f"/v8/crm/org{ORG_ZGID}"),
    WriteApi(
        "bigin_bulk_write", "/bigin/v2/org", "/bigin/v2/upload", "/bigin/bulk/v2/write", f"/v2/bigin/org{ORG_ZGID}"
    ),
)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """How jobs created from now on treat their rows, and the states their status GETs walk through.

    ``skipped`` maps a row (its line in the uploaded file, the header being line 1) to Zoho's ``ERRORS``
    value (``"DUPLICATE_DATA-Email"``); ``unprocessed`` rows are left untouched; a row whose column in
    ``mandatory`` is empty is skipped with ``MANDATORY_NOT_FOUND-<column>``.

    :param skipped: rows to skip, by line, with their ``ERRORS`` value.
    :param unprocessed: rows to leave unprocessed, by line.
    :param mandatory: columns whose empty value skips a row.
    :param script: the states the jobs' status GETs walk through, as CRM spells them.
    """

    skipped: Mapping[int, str] = field(default_factory=dict)
    unprocessed: frozenset[int] = frozenset()
    mandatory: tuple[str, ...] = ()
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
            mandatory=tuple(str(name) for name in payload.get("mandatory") or ()),
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
        self._records: dict[tuple[str, str, str], str] = {}  # (kind, module, find_by value) -> record id

    def add_routes(self, app: web.Application) -> None:
        """Route CRM's and Bigin's org, upload, create and result-download paths to this object.

        :param app: the emulator's application.
        """
        for api in WRITE_APIS:
            app.router.add_get(api.org_path, self._bind(self.org, api))
            app.router.add_post(api.upload_path, self._bind(self.upload, api))
            app.router.add_post(api.create_path, self._bind(self.create, api))
            app.router.add_get(api.download_prefix + "/bulk-write/{job_id}/{name}", self._bind(self.download, api))

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
            # Zoho names missing headers in an ``x-error`` header; the body's code is *unverified*.
            named = (("x-error", f"{', '.join(missing)} header(s) missing"),)
            return _json(api.product.error("INVALID_REQUEST", 400, named))
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
        """Serve a job create: check the body against the upload, decide each row, register the job.

        :param api: the product's endpoints.
        :param request: the JSON POST.
        :return: 201 with the job id, or Zoho's 400 for what is wrong.
        """
        try:
            body = await request.json()
        except ValueError:
            return _error(api, "INVALID_REQUEST", 400, "the body is not JSON")
        problem = _create_problem(body, self.uploads, api)
        if problem is not None:
            return _error(api, problem[0], 400, problem[1])
        resource = body["resource"][0]
        upload = self.uploads[resource["file_id"]]
        module = _api_name(resource["module"]) or ""
        reader = csv.reader(io.StringIO(upload.csv_text))
        header = next(reader, [])
        mapped = _mapped_columns(header, resource.get("field_mappings"))
        records = list(reader)
        if len(records) > MAX_RECORDS or len(header) > MAX_COLUMNS:
            return _error(api, "INVALID_DATA", 400, "a CSV holds at most 25,000 records and 200 columns")
        job_id = self._next_id(111_111_000_000_000_000)
        rows = tuple(
            self._outcome(api, body["operation"], module, resource.get("find_by"), mapped, n, r)
            for n, r in enumerate(records, 2)
        )
        counts = {
            f"{status}_count": sum(1 for row in rows if row[-3] == status) for status in ("added", "updated", "skipped")
        }
        counts["total_count"] = len(rows)
        details = {
            "module": module,
            "operation": body["operation"],
            "file_name": upload.csv_name,
            "download_url": f"{self.download_base}{api.download_prefix}/bulk-write/{job_id}/{job_id}.zip",
        }
        spec = JobSpec(api.kind, job_id, self.outcomes.script, {}, counts, None, None, time.time(), details)
        with self.lock:
            self.created[job_id] = CreatedJob(api.kind, job_id, body, tuple(name for name, _ in mapped[:3]), rows)
        self._jobs.add_job(spec, api.product)
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

    def _outcome(
        self,
        api: WriteApi,
        operation: str,
        module: str,
        find_by: str | None,
        mapped: list[tuple[str, int]],
        line: int,
        record: list[str],
    ) -> tuple[str, ...]:
        values = {name: record[index] if index < len(record) else "" for name, index in mapped}
        first = tuple(values[name] for name, _ in mapped[:3])
        outcomes = self.outcomes
        if line in outcomes.unprocessed:
            return (*first, "unprocessed", "", "")
        if line in outcomes.skipped:
            return (*first, "skipped", "", outcomes.skipped[line])
        if empty := [name for name in outcomes.mandatory if not values.get(name, "").strip()]:
            return (*first, "skipped", "", ":".join(f"MANDATORY_NOT_FOUND-{name}" for name in empty))
        key = (api.kind, module, values.get(find_by or "", "")) if find_by else None
        with self.lock:
            existing = self._records.get(key) if key else None
            if operation == "insert" or existing is None:
                if operation == "update":
                    return (*first, "skipped", "", f"RESOURCE_NOT_FOUND-{find_by}")
                record_id = str(4_150_868_000_000_000_000 + next(self._ids))
                if key:
                    self._records[key] = record_id
                return (*first, "added", record_id, "")
        return (*first, "updated", existing, "")

    async def download(self, api: WriteApi, request: web.Request) -> web.StreamResponse:
        """Serve a job's result: a zip of one CSV, each row's mapped columns then STATUS, RECORD_ID, ERRORS.

        :param api: the product's endpoints.
        :param request: the GET of the result link.
        :return: the zip, or ``RESOURCE_NOT_FOUND`` for a job this product did not create.
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
        return web.Response(body=data.getvalue(), content_type="application/zip")


def _api_name(module: Any) -> str | None:
    value = module.get("api_name") if isinstance(module, dict) else module
    return value if isinstance(value, str) and value else None


def _create_problem(body: Any, uploads: Mapping[str, Upload], api: WriteApi) -> tuple[str, str] | None:
    """Zoho's 400 code for a create body it refuses, or None."""
    if not isinstance(body, dict) or "operation" not in body or not isinstance(body.get("resource"), list):
        return "MISSING_REQUIRED_KEY", "operation and resource are required"
    if body["operation"] not in OPERATIONS:
        return "INVALID_DATA", f"operation must be one of {', '.join(OPERATIONS)}"
    if len(body["resource"]) != 1 or not isinstance(body["resource"][0], dict):
        return "INVALID_DATA", "the emulator takes one resource per job"
    resource = body["resource"][0]
    if resource.get("type") != "data" or not _api_name(resource.get("module")):
        return "MISSING_REQUIRED_KEY", "resource needs type 'data' and module {api_name}"
    upload = uploads.get(str(resource.get("file_id")))
    if upload is None or upload.kind != api.kind:
        return "INVALID_FILE_ID", "no uploaded file with this file_id"
    if body["operation"] in ("update", "upsert") and not resource.get("find_by"):
        return "MANDATORY_NOT_FOUND", "find_by is required for update and upsert"
    return None


def _mapped_columns(header: list[str], mappings: Iterable[Any] | None) -> list[tuple[str, int]]:
    """(field API name, CSV column index) in mapping order; without mappings, the header names as they are."""
    if not mappings:
        return [(name, index) for index, name in enumerate(header)]
    return [(str(m["api_name"]), int(m["index"])) for m in mappings if isinstance(m, dict) and "index" in m]
