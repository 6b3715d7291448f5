"""The create side of Zoho Analytics' asynchronous import (API v2) in the emulator: existing and new tables, batches.

``POST /restapi/v2/bulk/workspaces/{ws}/views/{view}/data`` imports into a table, ``…/workspaces/{ws}/data``
into a new one, and either with ``/batch`` takes a file over 100 MB in batches. CONFIG comes as a query
parameter (Zoho's API page) or as a multipart part (its knowledge repo): both are accepted. A created job
joins the emulator's job table, so its status GETs walk ``ImportOutcomes.script``; which rows land is scripted
(``skipped`` lines): SKIPROW leaves them out of ``successRowCount``, SETCOLUMNEMPTY counts them as warnings,
ABORT fails the job (1003).

Zoho's rules, each checked where Zoho's pages say (the codes' list:
https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html): the workspace must exist (7103) and hold
the table of the path (7138); a new table's ``tableName`` must be free in the workspace (7111); a body that
is not multipart is refused (7248), a file whose content is not its ``fileType`` too (7249: a CSV sent as
``json``), and an empty file (7203, *unverified*: the code is not on that page); a CSV none of whose header
names a column of the table is refused (7235). ``importType``, ``onError`` and ``fileType`` are read without
regard to case: Zoho's own samples send ``"append"`` and ``"skiprow"``
(https://www.zoho.com/analytics/api/v2/bulk-api/import-data-async/create-import-job/existing-table.html).
The workspaces and tables are the :class:`~airflow_provider_zoho.testing.analytics_account.AnalyticsAccount`
at ``AnalyticsImports.account``; a job into an existing table reports ``importOperation`` "updated" and no
``viewId``, one into a new table "created" and the new table's ``viewId`` (the table is added to the account
when the job is created: *unverified* whether Zoho adds it before the job runs), and both report the
imported file's columns in ``columnDetails``.

Facts: ``docs/zoho-api.md``, "Creating jobs" ("Analytics v2 bulk import"), from
https://www.zoho.com/analytics/api/v2/bulk-api/import-data-async/create-import-job/existing-table.html,
https://www.zoho.com/analytics/api/v2/bulk-api/import-data-async/create-import-job/new-table.html and
https://www.zoho.com/analytics/api/v2/bulk-api/batch-import/existing-table.html.  Anything marked
*unverified* is a plausible guess.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from airflow_provider_zoho.testing.analytics_account import DEFAULT_TYPE, AnalyticsAccount
from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, Answer, JobSpec
from airflow_provider_zoho.testing.incoming import access_token, multipart_parts
from airflow_provider_zoho.testing.store import JobTable

__all__ = ["AnalyticsImports", "CreatedImport", "ImportOutcomes"]

PRODUCT = EMULATED_PRODUCTS["analytics_import"]
MAX_FILE_BYTES = 100 * 1024 * 1024
IMPORT_TYPES = ("APPEND", "TRUNCATEADD", "UPDATEADD")
ON_ERROR = ("ABORT", "SKIPROW", "SETCOLUMNEMPTY")
FILE_TYPES = ("csv", "json", "xml", "xls", "xlsx", "parquet")
BASE = "/restapi/v2/bulk/workspaces/{workspace_id}"


@dataclass(frozen=True, slots=True)
class ImportOutcomes:
    """How imports created from now on go.

    :param skipped: rows (by line, the header being 1) that do not fit the table; what becomes of them is
        the job's ``onError``.
    :param script: the job codes their status GETs walk through.
    :param busy: how many creates to refuse first with 8134, as Zoho does with 5 import jobs already running.
    """

    skipped: frozenset[int] = frozenset()
    script: tuple[str, ...] = ("1002", "1004")
    busy: int = 0

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ImportOutcomes:
        """Read the admin API's form: ``{"skipped": [3], "script": ["1002", "1004"], "busy": 1}``.

        :param payload: the decoded JSON object.
        :return: the outcomes.
        :raises ValueError: an unknown key, or a line or count that is not a number.
        """
        unknown = set(payload) - {"skipped", "script", "busy"}
        if unknown:
            raise ValueError(f"analytics import outcomes take skipped, script and busy, not {sorted(unknown)}")
        return cls(
            skipped=frozenset(int(line) for line in payload.get("skipped") or ()),
            script=tuple(str(step) for step in payload.get("script") or ("1002", "1004")),
            busy=int(payload.get("busy") or 0),
        )


@dataclass(frozen=True, slots=True)
class CreatedImport:
    """An import job as the create endpoint(s) received it.

    :param job_id: the id the create answered.
    :param workspace_id: the workspace in the path.
    :param view_id: the table imported into; None: a new table.
    :param config: the CONFIG JSON.
    :param config_in: where CONFIG came: ``"query"`` or ``"multipart"``.
    :param header: the CSV's header row (empty for other file types).
    :param rows: the records in the file, or in all its batches.
    :param batches: the batches it came in (1 without ``/batch``).
    :param headers: the create request's headers.
    :param new_view_id: the id of the table a new-table import created; None into an existing table.
    """

    job_id: str
    workspace_id: str
    view_id: str | None  # None: a new table
    config: Mapping[str, Any]
    config_in: str  # "query" or "multipart"
    header: tuple[str, ...]
    rows: int
    batches: int
    headers: Mapping[str, str]
    new_view_id: str | None = None  # the table a new-table import created


@dataclass
class _Batch:
    config: Mapping[str, Any]
    header: tuple[str, ...]
    rows: int = 0
    batches: int = 0
    config_in: str = "query"


def _json(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status, body=json.dumps(answer.body).encode(), content_type="application/json", charset="utf-8"
    )


def _error(code: int, message: str | None = None, status: int | None = None) -> web.Response:
    return _json(PRODUCT.error(code, status, message=message))


class AnalyticsImports:
    """The import endpoints' state (created jobs, open batch imports) and their aiohttp handlers.

    :param jobs: the emulator's job table, which created jobs join and which checks access tokens.
    """

    def __init__(self, jobs: JobTable) -> None:
        """Start with no imports and the default outcomes (every row lands)."""
        self._jobs = jobs
        #: The workspaces and tables imports go into, and the metadata APIs serve.
        self.account = AnalyticsAccount()
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.outcomes = ImportOutcomes()
        self.created: dict[str, CreatedImport] = {}
        self.refused = 0  # creates answered 8134
        self._batches: dict[str, _Batch] = {}

    def add_routes(self, app: web.Application) -> None:
        """Route the existing-table and new-table import paths, and their ``/batch`` forms, to this object.

        Also the account's metadata GETs and its admin POST (``analytics_account.ADMIN_PATH``).

        :param app: the emulator's application.
        """
        self.account.add_routes(app, self._jobs.token_valid)
        for path in (BASE + "/views/{view_id}/data", BASE + "/data"):
            app.router.add_post(path, self._guarded(self.create))
            app.router.add_post(path + "/batch", self._guarded(self.batch))

    def _guarded(
        self, handler: Callable[[web.Request, Mapping[str, Any], str, bytes], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Token, org header, CONFIG (query or multipart) and FILE checked as Zoho does before the handler."""

        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._jobs.token_valid(access_token(request)):
                return _json(PRODUCT.invalid_token())
            if not request.headers.get("ZANALYTICS-ORGID"):
                return _error(8083)
            if refusal := self._target_refusal(request):
                return refusal
            if not request.content_type.startswith("multipart/"):
                return _error(7248)  # the bulk API's error codes: "not multipart/form-data format"
            parts = multipart_parts(request.headers.get("Content-Type", ""), await request.read())
            raw, config_in = request.query.get("CONFIG"), "query"
            if raw is None and "CONFIG" in parts:
                raw, config_in = parts["CONFIG"].decode("utf-8", errors="replace"), "multipart"
            try:
                config = json.loads(raw) if raw is not None else None
            except ValueError:
                config = None
            if not isinstance(config, dict):
                return _error(8504, "CONFIG is missing or is not a JSON object.")
            if "FILE" not in parts:
                return _error(8504, "The multipart part FILE is missing.")
            if len(parts["FILE"]) > MAX_FILE_BYTES:
                return _error(8504, "A file holds at most 100 MB.")  # *unverified*: the code for a file too large
            if problem := _config_problem(normalised(config), new_table="view_id" not in request.match_info):
                return _error(8504, problem)
            if refusal := self._file_refusal(request, normalised(config), parts["FILE"]):
                return refusal
            return await handler(request, config, config_in, parts["FILE"])

        return guarded

    def _target_refusal(self, request: web.Request) -> web.Response | None:
        """7103 for a workspace the account lacks, 7138 for a table the workspace lacks (Zoho's bulk error codes)."""
        workspace = self.account.workspace(request.match_info["workspace_id"])
        if workspace is None:
            return _error(7103)
        view_id = request.match_info.get("view_id")
        if view_id is not None and self.account.table(workspace.workspace_id, view_id) is None:
            return _error(7138)
        return None

    def _file_refusal(self, request: web.Request, config: Mapping[str, Any], data: bytes) -> web.Response | None:
        """Zoho's refusal of the file itself: empty, not its fileType, no column of the table, a taken name."""
        workspace_id = request.match_info["workspace_id"]
        if not data.strip():
            return _error(7203)  # *unverified* code: Zoho's pages list none for an empty file
        try:
            header, _ = _rows(config, data)
        except ValueError:
            # https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html, 7249: "Verify whether the file
            # content is same as the fileType provided" (a CSV sent as json).
            return _error(7249)
        view_id = request.match_info.get("view_id")
        table = self.account.table(workspace_id, view_id) if view_id else None
        if table is not None and config.get("fileType") == "csv" and not set(header) & set(table.column_names()):
            return _error(7235)  # the bulk error codes: not a single column name matches the table
        first_batch = "/batch" not in request.path or config.get("batchKey") == "start"
        workspace = self.account.workspace(workspace_id)
        if view_id is None and first_batch and workspace and workspace.table_named(str(config.get("tableName"))):
            return _error(7111)  # the bulk error codes: a table with the same name already exists
        return None

    def _next_id(self, base: int) -> str:
        with self.lock:
            return str(base + next(self._ids))

    def _busy(self) -> bool:
        with self.lock:
            if self.outcomes.busy <= 0:
                return False
            self.outcomes = ImportOutcomes(self.outcomes.skipped, self.outcomes.script, self.outcomes.busy - 1)
            self.refused += 1
            return True

    async def create(
        self, request: web.Request, config: Mapping[str, Any], config_in: str, data: bytes
    ) -> web.StreamResponse:
        """Serve a one-file import: count the file's rows and register the job.

        :param request: the POST, already checked by ``_guarded``.
        :param config: its CONFIG.
        :param config_in: where CONFIG came.
        :param data: the FILE part.
        :return: the job id, or 8134 while the scripted ``busy`` refusals last.
        """
        if self._busy():
            return _error(8134)
        header, rows = _rows(normalised(config), data)
        job_id = self._start_job(request, config, config_in, header, rows, 1)
        return web.json_response({"status": "success", "summary": "Create bulk import job", "data": {"jobId": job_id}})

    async def batch(
        self, request: web.Request, config: Mapping[str, Any], config_in: str, data: bytes
    ) -> web.StreamResponse:
        """Serve one batch of a batch import: ``batchKey`` "start" opens one, its key continues it.

        :param request: the POST, already checked by ``_guarded``.
        :param config: its CONFIG, with ``batchKey`` and ``isLastBatch``.
        :param config_in: where CONFIG came.
        :param data: this batch's FILE part.
        :return: the batch key to send next, and the job id with the last batch; or Zoho's error.
        """
        key = config.get("batchKey")
        if normalised(config).get("fileType") != "csv":
            return _error(8504, "Batch import takes CSV only.")
        if key == "start" and self._busy():
            return _error(8134)
        with self.lock:
            open_batch = self._batches.pop(str(key), None) if key != "start" else None
        if key != "start" and open_batch is None:
            return _error(8504, "batchKey is not one this server handed out.")
        header, rows = _rows(normalised(config), data)
        if open_batch is None:
            open_batch = _Batch(config, header, config_in=config_in)
        elif header != open_batch.header:
            return _error(8504, "Every batch must carry the first batch's header.")  # *unverified*
        open_batch.rows += rows
        open_batch.batches += 1
        if config.get("isLastBatch") in (True, "true"):
            job_id = self._start_job(
                request, open_batch.config, open_batch.config_in, header, open_batch.rows, open_batch.batches
            )
            data_out: dict[str, Any] = {"jobId": job_id}
        else:
            next_key = self._next_id(9_000_000)
            with self.lock:
                self._batches[next_key] = open_batch
            # *unverified*: Zoho's page names the CONFIG key, not where its answer holds the next one.
            data_out = {"batchKey": next_key}
        return web.json_response({"status": "success", "summary": "Create bulk import job", "data": data_out})

    def _start_job(
        self,
        request: web.Request,
        config: Mapping[str, Any],
        config_in: str,
        header: tuple[str, ...],
        rows: int,
        batches: int,
    ) -> str:
        workspace_id = request.match_info["workspace_id"]
        view_id = request.match_info.get("view_id")
        job_id = self._next_id(35_130_000_002_000_000)
        sent_config, config = config, normalised(config)
        outcomes = self.outcomes
        bad = len([line for line in outcomes.skipped if 2 <= line <= rows + 1])
        on_error = config.get("onError", "ABORT")
        script = outcomes.script
        counts = {"totalRowCount": rows, "successRowCount": rows, "warnings": 0}
        table = self.account.table(workspace_id, view_id) if view_id else None
        types = {column.name: column.data_type for column in table.columns} if table else {}
        columns = {name: types.get(name, DEFAULT_TYPE) for name in header}
        new_view_id = None
        if view_id is None:
            try:
                new_view_id = self.account.add_table(workspace_id, str(config["tableName"]), columns.items()).view_id
            except ValueError:  # taken since the first batch was checked
                new_view_id = None
        details: dict[str, Any] = {
            "import_type": config.get("importType", "APPEND"),
            "import_errors": "",
            "columns": columns,
            # Get import job details (import-data-async/get-import-job-details.html): a new table's job names it.
            "view_id": new_view_id,
            "import_operation": "created" if view_id is None else "updated",
        }
        if bad:
            lines = ", ".join(str(line) for line in sorted(outcomes.skipped)[:10])
            details["import_errors"] = f"<b>Rows {lines}</b>: value does not match the column data type."
            if on_error == "SKIPROW":
                counts["successRowCount"] = rows - bad
            elif on_error == "SETCOLUMNEMPTY":
                counts["warnings"] = bad
            else:
                script = (*script[:-1], "1003")
        spec = JobSpec(
            "analytics_import",
            job_id,
            script,
            {"workspace_id": workspace_id, "org_id": request.headers["ZANALYTICS-ORGID"]},
            counts,
            None,
            None,
            time.time(),
            details,
        )
        sent = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
        with self.lock:
            self.created[job_id] = CreatedImport(
                job_id, workspace_id, view_id, dict(sent_config), config_in, header, rows, batches, sent, new_view_id
            )
        self._jobs.add_job(spec, PRODUCT)
        return job_id


def normalised(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return CONFIG with ``importType`` and ``onError`` upper case and ``fileType`` lower case.

    Zoho reads them without regard to case: its samples send ``"importType": "append"`` and
    ``"onError": "skiprow"`` (import-data-async/create-import-job/existing-table.html).

    :param config: CONFIG as sent.
    :return: a copy, those values folded.
    """
    folded = dict(config)
    for key, fold in (("importType", str.upper), ("onError", str.upper), ("fileType", str.lower)):
        if isinstance(folded.get(key), str):
            folded[key] = fold(folded[key])
    return folded


def _config_problem(config: Mapping[str, Any], *, new_table: bool) -> str | None:
    """Zoho's 8504 reason for a CONFIG it refuses, or None."""
    if config.get("fileType") not in FILE_TYPES:
        return f"fileType must be one of {', '.join(FILE_TYPES)}."
    if config.get("onError", "ABORT") not in ON_ERROR:
        return f"onError must be one of {', '.join(ON_ERROR)}."
    if new_table:
        return None if config.get("tableName") else "tableName is mandatory for a new table."
    if config.get("importType") not in IMPORT_TYPES:
        return f"importType must be one of {', '.join(IMPORT_TYPES)}."
    if config["importType"] == "UPDATEADD" and not config.get("matchingColumns"):
        return "matchingColumns is mandatory for UPDATEADD."
    return None


def _rows(config: Mapping[str, Any], data: bytes) -> tuple[tuple[str, ...], int]:
    """Return the header and record count of a CSV or a JSON array (its first object's keys; other types: none).

    :raises ValueError: a file said to be JSON that is not.
    """
    text = data.decode("utf-8-sig", errors="replace")
    if config.get("fileType") == "json":
        parsed = json.loads(text) if text.strip() else []
        records = parsed if isinstance(parsed, list) else [parsed]
        first = records[0] if records and isinstance(records[0], dict) else {}
        return tuple(str(key) for key in first), len(records)
    if config.get("fileType") != "csv":
        return (), 0
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader, []))
    return header, sum(1 for _ in reader)
