"""The create side of Zoho Creator's bulk insert (API v2.1) in the emulator: create, upload, start, abort, result.

Zoho's sources disagree, and both forms are served: the upload goes to ``…/insert/{job_id}`` (the docs' request
line) or ``…/insert?job_id=…`` (their sample and the OpenAPI file); a job starts with ``PATCH
{"data": {"action": "Start"}}`` (the docs) or ``PUT {"action": "start"}`` (the OpenAPI file), and aborts alike.
``InsertOutcomes`` can turn either form off, so a client's fallback is tested. One job per form may be active
(Ready-to-upload or In-progress): a second create is refused. A started job joins the emulator's job table,
so its status GETs walk ``InsertOutcomes.script``.

Zoho's rules, from the account the emulator holds (``creator_account.CreatorAccount``, ``CreatorInserts.account``):
a create for an app or a form that does not exist is refused (2892 / 2893, Creator's status-codes page), and so
is an upload whose header names a field the form does not have. The metadata APIs (applications, forms, fields,
reports) are served from the same account.

Facts: ``docs/zoho-api.md``, "Creating jobs" ("Creator v2.1 bulk insert"), from
https://www.zoho.com/creator/help/api/v2.1/bulk-insert-api/create-bulk-insert-job.html,
https://www.zoho.com/creator/help/api/v2.1/bulk-insert-api/upload-bulk-insert-job.html,
https://www.zoho.com/creator/help/api/v2.1/bulk-insert-api/start-abort-job-status.html and Zoho's Creator
OpenAPI file.  Anything marked *unverified* is a plausible guess.
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from airflow_provider_zoho.testing.creator_account import CreatorAccount, CreatorForm, Refusal
from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, JobSpec, emulator_state_key
from airflow_provider_zoho.testing.hostile import echo_page
from airflow_provider_zoho.testing.incoming import access_token, multipart_parts
from airflow_provider_zoho.testing.store import JobTable

__all__ = ["CreatedInsert", "CreatorInserts", "InsertOutcomes"]

PRODUCT = EMULATED_PRODUCTS["creator_bulk_insert"]
META = "/creator/v2.1/meta"
# The admin path declaring apps (``ADMIN_PREFIX`` of server.py, which imports this module's users).
ADMIN_APPS_PATH = "/__emulator__/creator_apps"
BASE = "/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/form/{form_link_name}/insert"
MAX_FILE_BYTES = 100 * 1024 * 1024
ACTIVE = frozenset({"READYTOUPLOAD", "INPROGRESS"})
# *unverified*: Zoho's sources name no code for "another job is active for this form"; 409 as for its
# other conflicts (11070...), and a code of the emulator's own.
ACTIVE_JOB_CODE = 11050
# *unverified*: Zoho's sources name no code for a header naming no field of the form; 11000 ("invalid value",
# Zoho's Creator OpenAPI file) with HTTP 400.
UNKNOWN_FIELD_CODE = 11000
# *unverified*: the name of the failure file's reason column.
REASON_COLUMN = "Reason"


@dataclass(frozen=True, slots=True)
class InsertOutcomes:
    """How jobs created from now on go.

    :param upload_forms: the upload forms served: ``"path"`` (``…/insert/{job_id}``, the docs' request
        line) and ``"query"`` (``…/insert?job_id=…``, their sample and the OpenAPI file).
    :param start_methods: the start/abort forms served: ``"PATCH"`` (the docs) and ``"PUT"`` (the OpenAPI file).
    :param failed: rows that fail, by line (the header being line 1), with their reason.
    :param script: the states a started job walks through.
    :param result_pending: how many result downloads answer 11110 (still being generated) first.
    :param record_details_beside_data: status answers put ``record_details`` beside ``data``, the OpenAPI
        file's shape, instead of inside it.
    :param result_echo: the result download answers, with HTTP 200, an HTML page echoing the request (its
        headers carry the access token), as a misbehaving proxy or debug endpoint would.
    """

    upload_forms: frozenset[str] = frozenset({"path", "query"})
    start_methods: frozenset[str] = frozenset({"PATCH", "PUT"})
    failed: Mapping[int, str] = field(default_factory=dict)
    script: tuple[str, ...] = ("In-progress", "Completed")
    result_pending: int = 0
    record_details_beside_data: bool = False
    result_echo: bool = False


@dataclass(frozen=True, slots=True)
class CreatedInsert:
    """A bulk insert job as the endpoints received it.

    :param job_id: the id the create answered.
    :param coordinates: the owner, app, form and environment it was created for.
    :param csv_text: the uploaded CSV's text; None before the upload.
    :param upload_form: the upload form used (``"path"`` or ``"query"``).
    :param started_with: the method that started it (``"PATCH"`` or ``"PUT"``).
    :param aborted_with: the method that aborted it.
    :param headers: the create request's headers.
    """

    job_id: str
    coordinates: Mapping[str, str | None]
    csv_text: str | None = None
    upload_form: str | None = None
    started_with: str | None = None  # the method that started it
    aborted_with: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def _answer(code: int, message: str, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


class CreatorInserts:
    """The bulk insert endpoints' state and their aiohttp handlers.

    :param jobs: the emulator's job table, which started jobs join and which checks access tokens.
    """

    def __init__(self, jobs: JobTable) -> None:
        """Start with no jobs and the default outcomes (both forms served, every row lands)."""
        self._jobs = jobs
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.outcomes = InsertOutcomes()
        self.created: dict[str, CreatedInsert] = {}
        self.account = CreatorAccount.default()
        # Creator's refusal the metadata APIs answer with instead of their lists (a token without the metadata
        # scopes, API access disabled...), so a client's "cannot read the metadata" path is tested.
        self.meta_refusal: Refusal | None = None

    def add_routes(self, app: web.Application) -> None:
        """Route the create, upload, start/abort and result paths to this object.

        :param app: the emulator's application.
        """
        app.router.add_post(BASE, self._guarded(self.create_or_upload))
        app.router.add_post(BASE + "/{job_id}", self._guarded(self.upload_by_path))
        app.router.add_patch(BASE + "/{job_id}", self._guarded(self.action))
        app.router.add_put(BASE + "/{job_id}", self._guarded(self.action))
        app.router.add_get(BASE + "/{job_id}/result", self._guarded(self.result))
        app.router.add_get(META + "/applications", self._guarded(self.meta_applications))
        app.router.add_get(META + "/{account_owner_name}/{app_link_name}/forms", self._guarded(self.meta_forms))
        app.router.add_get(META + "/{account_owner_name}/{app_link_name}/reports", self._guarded(self.meta_reports))
        app.router.add_get(
            META + "/{account_owner_name}/{app_link_name}/form/{form_link_name}/fields",
            self._guarded(self.meta_fields),
        )
        app.router.add_post(ADMIN_APPS_PATH, self.admin_apps)

    def _guarded(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._jobs.token_valid(access_token(request)):
                invalid = PRODUCT.invalid_token()
                return web.json_response(invalid.body, status=invalid.status)
            return await handler(request)  # type: ignore[no-any-return]

        return guarded

    @staticmethod
    def _coordinates(request: web.Request) -> dict[str, str | None]:
        names = ("account_owner_name", "app_link_name", "form_link_name")
        return {**{n: request.match_info[n] for n in names}, "environment": request.headers.get("environment")}

    def _job(self, request: web.Request, job_id: str) -> CreatedInsert | None:
        with self.lock:
            job = self.created.get(job_id)
        return job if job is not None and job.coordinates == self._coordinates(request) else None

    def _update(self, job: CreatedInsert, **changes: Any) -> CreatedInsert:
        with self.lock:
            self.created[job.job_id] = updated = replace(job, **changes)
        return updated

    def _state(self, job: CreatedInsert) -> str:
        return emulator_state_key(self._jobs.job_state(PRODUCT.kind, job.job_id) or "")

    def _spec(self, job: CreatedInsert, script: tuple[str, ...], counts: Mapping[str, int]) -> JobSpec:
        details = {"record_details_beside_data": True} if self.outcomes.record_details_beside_data else {}
        return JobSpec(PRODUCT.kind, job.job_id, script, job.coordinates, counts, None, None, time.time(), details)

    def _form(self, request: web.Request) -> CreatorForm | web.Response:
        """Return the request's form, or Creator's refusal of an unknown owner, app (2892) or form (2893)."""
        info = request.match_info
        found = self.account.find_form(
            info["account_owner_name"],
            info["app_link_name"],
            info["form_link_name"],
            request.headers.get("environment"),
        )
        return _answer(found.code, found.message, found.status) if isinstance(found, Refusal) else found

    # -- metadata -----------------------------------------------------------------------------------------
    async def meta_applications(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /creator/v2.1/meta/applications``: the apps of the ``environment`` header's environment.

        https://www.zoho.com/creator/help/api/v2.1/get-applications.html (keys beyond the names *unverified*).
        """
        if (refusal := self.meta_refusal) is not None:
            return _answer(refusal.code, refusal.message, refusal.status)
        apps = self.account.listed(request.headers.get("environment"))
        return web.json_response({"code": 3000, "applications": [app.as_json() for app in apps]})

    def _app_or_refusal(self, request: web.Request) -> Any:
        if (refusal := self.meta_refusal) is not None:
            return _answer(refusal.code, refusal.message, refusal.status)
        info = request.match_info
        found = self.account.find_app(
            info["account_owner_name"], info["app_link_name"], request.headers.get("environment")
        )
        return _answer(found.code, found.message, found.status) if isinstance(found, Refusal) else found

    async def meta_forms(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /creator/v2.1/meta/{owner}/{app}/forms`` (https://www.zoho.com/creator/help/api/v2.1/get-forms.html).

        ``type`` 1 (a form) is *unverified*; an unknown app is refused with 2892.
        """
        app = self._app_or_refusal(request)
        if isinstance(app, web.Response):
            return app
        forms = [
            {"link_name": f.link_name, "display_name": f.display_name or f.link_name, "type": 1} for f in app.forms
        ]
        return web.json_response({"code": 3000, "forms": forms})

    async def meta_reports(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /creator/v2.1/meta/{owner}/{app}/reports`` (https://www.zoho.com/creator/help/api/v2.1/get-reports.html).

        ``type`` 1 (a list report) is *unverified*.
        """
        app = self._app_or_refusal(request)
        if isinstance(app, web.Response):
            return app
        reports = [{"link_name": name, "display_name": name.replace("_", " "), "type": 1} for name in app.reports]
        return web.json_response({"code": 3000, "reports": reports})

    async def meta_fields(self, request: web.Request) -> web.StreamResponse:
        """Serve ``GET /creator/v2.1/meta/{owner}/{app}/form/{form}/fields``: the form's fields, 2892 or 2893.

        https://www.zoho.com/creator/help/api/v2.1/get-fields.html (keys beyond the names *unverified*).
        """
        if (refusal := self.meta_refusal) is not None:
            return _answer(refusal.code, refusal.message, refusal.status)
        form = self._form(request)
        if isinstance(form, web.Response):
            return form
        return web.json_response({"code": 3000, "fields": [one.as_json() for one in form.fields]})

    async def admin_apps(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/creator_apps``: declare apps (one, or a list), as ``account.declare_app`` does.

        :return: ``{"ok": true}``, or HTTP 400 with ``{"ok": false, "error": ...}`` when the body is refused.
        """
        try:
            payload = await request.json()
            for app in payload if isinstance(payload, list) else [payload]:
                if not isinstance(app, dict):
                    raise ValueError("an app is a JSON object")
                self.account.declare_app(app)
        except ValueError as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        return web.json_response({"ok": True})

    # -- handlers -----------------------------------------------------------------------------------------
    async def create_or_upload(self, request: web.Request) -> web.StreamResponse:
        """Serve a POST to ``…/insert``: an upload when it names ``?job_id=``, else a create.

        :param request: the POST.
        :return: the new job (code 3000), the upload's answer, or Creator's error (one active job per form).
        """
        if "job_id" in request.query:
            if "query" not in self.outcomes.upload_forms:
                return _answer(1000, "No such URL or a parameter is missing.", 404)
            return await self._upload(request, request.query["job_id"], "query")
        # Zoho refuses a create for an app or form that does not exist (2892 / 2893, Creator's status codes).
        form = self._form(request)
        if isinstance(form, web.Response):
            return form
        coordinates = self._coordinates(request)
        with self.lock:
            mine = [job for job in self.created.values() if job.coordinates == coordinates]
        active = next((job for job in mine if self._state(job) in ACTIVE), None)
        if active is not None:
            return _answer(
                ACTIVE_JOB_CODE,
                f"Bulk insert job {active.job_id} is still active for this form; only one job per form may be "
                "active at a time.",
                409,
            )
        job_id = str(4_523_000_000_000_000 + next(self._ids))
        sent = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
        job = CreatedInsert(job_id, coordinates, headers=sent)
        with self.lock:
            self.created[job_id] = job
        self._jobs.add_job(self._spec(job, ("Ready-to-upload",), {}), PRODUCT)
        details = {
            "job_id": job_id,
            "operation": "INSERT",
            "status": "Job created successfully",
            "created_by": coordinates["account_owner_name"],
            "created_time": time.strftime("%d-%b-%Y %H:%M:%S", time.gmtime()),
        }
        return web.json_response({"code": 3000, "details": details})

    async def upload_by_path(self, request: web.Request) -> web.StreamResponse:
        """Serve an upload to ``…/insert/{job_id}``, unless ``InsertOutcomes`` turned that form off.

        :param request: the multipart POST.
        :return: code 3000, or Creator's error for the job, its status or the file.
        """
        if "path" not in self.outcomes.upload_forms:
            return _answer(1000, "No such URL or a parameter is missing.", 404)
        return await self._upload(request, request.match_info["job_id"], "path")

    async def _upload(self, request: web.Request, job_id: str, form: str) -> web.StreamResponse:
        job = self._job(request, job_id)
        if job is None:
            return _answer(11330, "No such bulk insert job for this form.", 404)
        if job.csv_text is not None:
            return _answer(11070, "A file was already uploaded for this job.", 409)
        if self._state(job) != "READYTOUPLOAD":
            return _answer(11340, "Upload is not allowed in the job's status.", 409)  # status *unverified*
        data = multipart_parts(request.headers.get("Content-Type", ""), await request.read()).get("file")
        if data is None:
            return _answer(9350, "The multipart field 'file' is missing.", 400)
        if len(data) > MAX_FILE_BYTES:
            return _answer(11000, "The file is larger than 100 MB.", 400)
        try:
            text = _csv_text(data)
        except (zipfile.BadZipFile, UnicodeDecodeError, ValueError):
            return _answer(11000, "Only a CSV, or a zip holding one CSV, is accepted.", 400)
        target = self._form(request)
        if isinstance(target, web.Response):
            return target
        # The header row holds the fields' link names (upload-bulk-insert-job.html); one naming no field of the
        # form is refused (the code is *unverified*, see UNKNOWN_FIELD_CODE).
        unknown = target.unknown_header_names(next(csv.reader(io.StringIO(text)), []))
        if unknown:
            return _answer(
                UNKNOWN_FIELD_CODE,
                f"Invalid column(s) {', '.join(unknown)}: no field of form {target.link_name} has that link name.",
                400,
            )
        self._update(job, csv_text=text, upload_form=form)
        return _answer(3000, "File uploaded successfully")

    async def action(self, request: web.Request) -> web.StreamResponse:
        """Serve a start or an abort, in the PATCH (docs) or PUT (OpenAPI file) form.

        A started job joins the job table with the outcomes' script; an aborted one reports Aborted.

        :param request: the PATCH or PUT.
        :return: code 3000, or Creator's error for the job, its status or the body.
        """
        method = request.method
        if method not in self.outcomes.start_methods:
            return _answer(1000, "No such URL or a parameter is missing.", 404)
        job = self._job(request, request.match_info["job_id"])
        if job is None:
            return _answer(11330, "No such bulk insert job for this form.", 404)
        try:
            body = await request.json()
        except ValueError:
            body = None
        holder = body.get("data") if method == "PATCH" and isinstance(body, dict) else body
        action = str(holder.get("action", "")).lower() if isinstance(holder, dict) else ""
        if action == "start":
            return self._start(job, method)
        if action == "abort":
            return self._abort(job, method)
        where = "data.action" if method == "PATCH" else "action"
        return _answer(9350, f"{where} must be Start or Abort.", 400)

    def _start(self, job: CreatedInsert, method: str) -> web.StreamResponse:
        if job.csv_text is None:
            return _answer(11350, "The job cannot start before its file is uploaded.", 409)
        if self._state(job) != "READYTOUPLOAD" or job.started_with:
            return _answer(11340, "The job has already started.", 409)  # *unverified*
        rows = list(csv.reader(io.StringIO(job.csv_text)))[1:]
        failed = len([line for line in self.outcomes.failed if 2 <= line <= len(rows) + 1])
        counts = {
            "total_records": len(rows),
            "failed_records": failed,
            "unprocessed_records": 0,
            "success_records": len(rows) - failed,
        }
        self._jobs.add_job(self._spec(job, self.outcomes.script, counts), PRODUCT)
        self._update(job, started_with=method)
        return _answer(3000, "Job started successfully")

    def _abort(self, job: CreatedInsert, method: str) -> web.StreamResponse:
        state = self._state(job)
        if job.aborted_with or state in ("ABORTED", "USERABORTED", "SYSTEMABORTED"):
            return _answer(11080, "The job was already aborted by a user.", 409)
        if state == "COMPLETED":
            return _answer(11100, "The job has already completed.", 409)
        total = 0 if job.csv_text is None else max(0, len(job.csv_text.splitlines()) - 1)
        counts = {"total_records": total, "failed_records": 0, "unprocessed_records": total, "success_records": 0}
        self._jobs.add_job(self._spec(job, ("Aborted",), counts), PRODUCT)
        self._update(job, aborted_with=method)
        return _answer(3000, "Job aborted successfully")

    async def result(self, request: web.Request) -> web.StreamResponse:
        """Serve a completed job's result: a zip of one CSV of the rows ``?filter=`` asks for.

        :param request: the GET.
        :return: the zip; 11110 while ``result_pending`` lasts; the echo page with ``result_echo``; or
            Creator's error for a job not found or not completed.
        """
        job = self._job(request, request.match_info["job_id"])
        if job is None:
            return _answer(11330, "No such bulk insert job for this form.", 404)
        if self._state(job) != "COMPLETED" or job.csv_text is None:
            return _answer(11120, "The result is not available: the job has not completed.", 400)
        with self.lock:
            if self.outcomes.result_pending > 0:
                self.outcomes = replace(self.outcomes, result_pending=self.outcomes.result_pending - 1)
                # HTTP status *unverified*; the code is the OpenAPI file's.
                return _answer(11110, "The result file is still being generated; try again later.", 400)
        if self.outcomes.result_echo:
            echo = echo_page(200, f"{request.method} {request.path_qs}", request.headers, b"")
            return web.Response(text=str(echo.body), content_type=echo.content_type)
        wanted = request.query.get("filter", "success")
        reader = csv.reader(io.StringIO(job.csv_text))
        header = next(reader, [])
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow([*header, REASON_COLUMN] if wanted == "failure" else header)
        for line, row in enumerate(reader, 2):
            reason = self.outcomes.failed.get(line)
            if wanted == "failure" and reason is not None:
                writer.writerow([*row, reason])
            elif wanted == "success" and reason is None:
                writer.writerow(row)
        data = io.BytesIO()
        with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{job.job_id}_{wanted}.csv", text.getvalue())
        return web.Response(body=data.getvalue(), content_type="application/zip")

    def set_outcomes(self, payload: Mapping[str, Any]) -> None:
        """Set how jobs created from now on go, from the admin API's form of :class:`InsertOutcomes`.

        :param payload: ``InsertOutcomes``' fields as JSON, e.g. ``{"failed": {"3": "Invalid email"}}``;
            those left out take their defaults.
        :raises ValueError: an unknown field, or a state Creator does not have.
        """
        unknown = set(payload) - set(InsertOutcomes.__dataclass_fields__)
        if unknown:
            raise ValueError(f"creator insert outcomes take {sorted(InsertOutcomes.__dataclass_fields__)}")
        defaults = InsertOutcomes()
        self.outcomes = InsertOutcomes(
            upload_forms=frozenset(payload.get("upload_forms") or defaults.upload_forms),
            start_methods=frozenset(payload.get("start_methods") or defaults.start_methods),
            failed={int(line): str(reason) for line, reason in dict(payload.get("failed") or {}).items()},
            script=tuple(str(step) for step in payload.get("script") or defaults.script),
            result_pending=int(payload.get("result_pending") or 0),
            record_details_beside_data=bool(payload.get("record_details_beside_data")),
            result_echo=bool(payload.get("result_echo")),
        )
        for step in self.outcomes.script:
            PRODUCT.canonical_state(step)


def _csv_text(data: bytes) -> str:
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [name for name in archive.namelist() if name.lower().endswith(".csv")]
            if len(names) != 1:
                raise ValueError(f"{len(names)} CSV files in the zip")
            data = archive.read(names[0])
    return data.decode("utf-8-sig")
