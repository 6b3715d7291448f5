"""Zoho Analytics' asynchronous export (API v2) in the emulator: create a job from a view or a SQL query, download it.

``GET /restapi/v2/bulk/workspaces/{ws}/views/{view}/data`` exports a table (CONFIG optional),
``GET …/workspaces/{ws}/data`` the result of ``CONFIG.sqlQuery`` (CONFIG mandatory); both answer a ``jobId``.
A created job joins the emulator's job table, so ``GET …/exportjobs/{job}`` (the ``analytics_export`` product
of :mod:`~airflow_provider_zoho.testing.dialects`) walks ``ExportOutcomes.script``; ``GET
…/exportjobs/{job}/data`` then answers the file itself, streamed from the table's rows
(:meth:`~airflow_provider_zoho.testing.analytics_account.Table.row`, synthetic rows generated as they are
written), so a million-row export never sits in memory.

Zoho's rules, each where its source says (``okf`` is Zoho's ``zoho/analytics-okf`` repository,
``v2.0/domains/data-operations/async-data-export/``; the codes' list is
https://www.zoho.com/analytics/api/v2/bulk-api/error-codes.html):

- every call needs ``ZANALYTICS-ORGID`` (8083) and a live token (8535); the workspace must exist (7103) and
  the view be a table of it (7138);
- CONFIG is URL-encoded JSON in the query string; for SQL it is mandatory: absent or empty 8077, no
  ``sqlQuery`` 8079, a blank one 8078 (okf create-export-job-sql-query.md, "Error Codes");
- ``responseFormat`` csv (default) | json | xml | xls | pdf | html | image, any case, else 8001; image is
  refused with 8014 for a SQL query and for a table (okf overview.md, "Format restrictions");
- ``selectedColumns`` 1-300 names (8547), each a column (8015); ``delimiter`` 0-4, ``recordDelimiter`` 0-2,
  ``quoted`` 0-1 (8119) (okf overview.md, "CSV specific");
- a view's ``criteria``: a column it does not have 7330, an expression that does not parse 7331 (okf
  overview.md, "criteria syntax"); the SQL ``tableCriteriaList``: 0-25 entries (8547), each with ``viewId``
  and ``criteria`` (8079), a view of the workspace (7571) that the query uses (7836);
- ``callbackUrl``: an http(s) URL of at most 10,000 characters (8125), not a private or loopback host
  (8127) (okf overview.md, "The callbackUrl Attribute"). The emulator never calls it back;
- 5 export jobs queued or running per organization, the sixth create 8132 (okf overview.md, "Limitations");
- a SQL query's result is cut at 800,000 rows while the job still reports 1004 (okf overview.md,
  "Limitations": "A row limit is appended to the query automatically", "Truncated silently");
- only the user who created a job may poll (8124, see :meth:`AnalyticsExports.status_refusal`) or download it
  (8124, HTTP 403); a download before the job completed is 8121 (1001), 8122 (1002), 8123 (1003); a job not
  found or expired 8120 (404) (okf download-exported-data.md, "Error Codes"). The file may be downloaded
  again while the job is kept; it has no ``Content-Disposition`` (okf download-exported-data.md).

The emulator's SQL is a subset: ``SELECT * | "A", "B" FROM "Table" [WHERE <criteria>] [LIMIT n]``; anything
else is refused as Zoho refuses a query it cannot parse (7403). An unknown table is 7105 and an unknown
column 7107 (*unverified*: the v1 common error codes; the v2 pages name none for a SQL export); a WHERE
column the table lacks 8004 (the bulk error codes). Criteria (a view's, the WHERE clause, tableCriteriaList's)
take ``"Col" <op> 'text' | number`` with ``= != <> < <= > >=``, joined by ``and`` / ``or`` (no parentheses,
functions or ``in``): anything else is refused (7331 / 7403) rather than guessed at.

Formats served for real: csv and json (``keyValueFormat`` true, the default: ``{"data": [{column: value}]}``;
false: ``{"response": {"uri", "action": "EXPORT", "result": {"column_order", "rows"}}}``, okf
download-exported-data.md, "Exported File Structure by Format"). xml, xls, pdf, html and image answer a small
placeholder body of the format's content type. A user is a refresh token (one user's grant); *unverified*
that Zoho's "user" is finer or coarser than that.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import io
import ipaddress
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web

from airflow_provider_zoho.testing.analytics_account import AnalyticsAccount, Table, Workspace
from airflow_provider_zoho.testing.dialects import ANALYTICS_EXPORT_RETENTION_MS, EMULATED_PRODUCTS, Answer, JobSpec
from airflow_provider_zoho.testing.incoming import access_token
from airflow_provider_zoho.testing.store import JobTable

__all__ = [
    "ADMIN_PATH",
    "SQL_ROW_LIMIT",
    "AnalyticsExports",
    "CreatedExport",
    "CriteriaError",
    "ExportOutcomes",
    "Selection",
    "parse_criteria",
    "parse_sql",
]

PRODUCT = EMULATED_PRODUCTS["analytics_export"]
BASE = "/restapi/v2/bulk/workspaces/{workspace_id}"
#: The admin endpoint scripting the exports created from now on (under the server's ``ADMIN_PREFIX``).
ADMIN_PATH = "/__emulator__/analytics_export"
ORG_HEADER = "ZANALYTICS-ORGID"
#: okf overview.md, "Limitations": simultaneous export jobs (queued or running) per organization.
MAX_ACTIVE_JOBS = 5
#: okf overview.md, "Limitations": a SQL query export's rows, cut silently past it.
SQL_ROW_LIMIT = 800_000
#: okf overview.md, "Limitations": selectedColumns entries, tableCriteriaList entries, callbackUrl characters.
MAX_SELECTED_COLUMNS = 300
MAX_TABLE_CRITERIA = 25
MAX_CALLBACK_URL = 10_000
#: okf download-exported-data.md, "Exported File Structure by Format": each format's Content-Type.
CONTENT_TYPES: Mapping[str, str] = {
    "csv": "text/csv",
    "json": "application/json",
    "xml": "application/xml",
    "xls": "application/vnd.ms-excel",
    "pdf": "application/pdf",
    "html": "text/html",
    "image": "image/png",
}
#: okf overview.md, "CSV specific": 0 comma, 1 tab, 2 semicolon, 3 space, 4 pipe; 0 DOS, 1 UNIX, 2 MAC.
DELIMITERS: Mapping[int, str] = {0: ",", 1: "\t", 2: ";", 3: " ", 4: "|"}
RECORD_DELIMITERS: Mapping[int, str] = {0: "\r\n", 1: "\n", 2: "\r"}
QUOTES: Mapping[int, str] = {0: "'", 1: '"'}
ACTIVE_STATES = frozenset({"1001", "1002"})
_CHUNK_ROWS = 5_000  # rows written per chunk of a download


class _Jobs(JobTable, Protocol):
    def token_user(self, token: str | None) -> str | None:
        """Return who a live token acts for (see :meth:`Store.token_user`)."""
        ...


@dataclass(frozen=True, slots=True)
class ExportOutcomes:
    """How export jobs created from now on go.

    :param script: the job codes their status GETs walk through (the last repeats); e.g. ``("1002", "1003")``
        for a job that fails, ``("1002",)`` for one that never ends.
    """

    script: tuple[str, ...] = ("1001", "1002", "1004")

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> ExportOutcomes:
        """Read ``{"script": ["1002", "1004"]}``.

        :param payload: the decoded JSON object.
        :return: the outcomes.
        :raises ValueError: an unknown key, or a step that is not an Analytics job code.
        """
        if unknown := set(payload) - {"script"}:
            raise ValueError(f"analytics export outcomes take script, not {sorted(unknown)}")
        return cls(script=_script(payload.get("script") or cls().script))


def _script(steps: Sequence[Any]) -> tuple[str, ...]:
    script = tuple(str(step) for step in steps)
    if not script:
        raise ValueError("a script needs at least one step")
    for step in script:
        PRODUCT.canonical_state(step)
    return script


class CriteriaError(ValueError):
    """A criteria or SQL query Zoho refuses: the Analytics error code and a message."""

    def __init__(self, code: int, message: str) -> None:
        """Keep the code beside the message."""
        super().__init__(message)
        self.code = code


Predicate = Callable[[Sequence[str]], bool]

_TOKEN = re.compile(
    r"""\s*(?:(?P<col>"(?:[^"]|"")*"(?:\s*\.\s*"(?:[^"]|"")*")?)|(?P<str>'(?:[^']|'')*')"""
    r"""|(?P<num>-?\d+(?:\.\d+)?)|(?P<op><=|>=|<>|!=|=|<|>)|(?P<word>[A-Za-z_]+))"""
)
_OPS: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _unquote(name: str) -> tuple[str | None, str]:
    """``"T"."C"`` -> ("T", "C"); ``"C"`` -> (None, "C")."""
    parts = [part.strip()[1:-1].replace('""', '"') for part in re.split(r'(?<=")\s*\.\s*(?=")', name.strip())]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def parse_criteria(
    text: str, table: Table, *, unknown_column: int, malformed: int, table_names: Sequence[str] = ()
) -> Predicate:
    """Compile a criteria expression of the emulator's subset into a row predicate.

    :param text: e.g. ``"Region"='East' and "Sales">=1000``.
    :param table: the table whose rows the predicate reads (values in its columns' order).
    :param unknown_column: the code of a column the table lacks (7330 a view's criteria, 8004 SQL's WHERE).
    :param malformed: the code of an expression outside the subset (7331, or 7403 in SQL).
    :param table_names: the names a ``"Table"."Column"`` may qualify a column with (default the table's own).
    :return: the predicate.
    :raises CriteriaError: Zoho's refusal.
    """
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise CriteriaError(malformed, f"The criteria cannot be parsed near {text[position : position + 20]!r}.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    names = [name.casefold() for name in (table_names or [table.name])]
    alternatives: list[list[Predicate]] = [[]]
    index = 0
    while True:
        if index + 3 > len(tokens) or tokens[index][0] != "col" or tokens[index + 1][0] != "op":
            raise CriteriaError(malformed, f"Expected '\"Column\" <op> value' in {text!r}.")
        qualifier, name = _unquote(tokens[index][1])
        if qualifier is not None and qualifier.casefold() not in names:
            raise CriteriaError(unknown_column, f"The table {qualifier!r} is not part of the view.")
        column = table.column(name)
        if column is None:
            raise CriteriaError(unknown_column, f"The column {name!r} is not present in the table {table.name!r}.")
        kind, literal = tokens[index + 2]
        if kind not in ("str", "num"):
            raise CriteriaError(malformed, f"Expected a quoted text or a number after {tokens[index + 1][1]!r}.")
        value = literal[1:-1].replace("''", "'") if kind == "str" else literal
        alternatives[-1].append(_comparison(table.columns.index(column), _OPS[tokens[index + 1][1]], value))
        index += 3
        if index == len(tokens):
            break
        word = tokens[index][1].casefold() if tokens[index][0] == "word" else ""
        if word not in ("and", "or"):
            raise CriteriaError(malformed, f"Expected 'and' or 'or', got {tokens[index][1]!r}.")
        if word == "or":
            alternatives.append([])
        index += 1
    groups = [tuple(group) for group in alternatives]
    return lambda row: any(all(test(row) for test in group) for group in groups)


def _comparison(position: int, op: Callable[[Any, Any], bool], literal: str) -> Predicate:
    number = _number(literal)

    def test(row: Sequence[str]) -> bool:
        value = row[position]
        if number is not None:
            other = _number(value)
            if other is not None:
                return op(other, number)
        return op(value, literal)

    return test


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Selection:
    """What an export job writes: which table, which columns, which rows.

    :param table: the table read.
    :param positions: the exported columns' positions in the table's columns.
    :param names: their names, as the header writes them.
    :param predicate: the rows kept; None: all.
    :param limit: at most this many rows (SQL's LIMIT, the 800,000-row cut); None: all.
    :param row_total: the table's row count when the job was created (the rows read are those).
    """

    table: Table
    positions: tuple[int, ...]
    names: tuple[str, ...]
    predicate: Predicate | None = None
    limit: int | None = None
    row_total: int = 0

    def rows(self) -> Iterator[tuple[str, ...]]:
        """Yield the exported rows, each a value per exported column."""
        positions, predicate = self.positions, self.predicate
        emitted = 0
        for index in range(self.row_total):
            if self.limit is not None and emitted >= self.limit:
                return
            row = self.table.row(index)
            if predicate is not None and not predicate(row):
                continue
            emitted += 1
            yield tuple(row[p] for p in positions)


_SQL = re.compile(
    r"""^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<table>"(?:[^"]|"")+"|[A-Za-z_]\w*)"""
    r"""(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*;?\s*$""",
    re.IGNORECASE | re.DOTALL,
)
_SQL_COLUMN = re.compile(r'^\s*(?:"(?:[^"]|"")+"\s*\.\s*)?(?:"(?:[^"]|"")+"|[A-Za-z_]\w*)\s*$')


def parse_sql(query: str, workspace: Workspace) -> Selection:
    """Read a SQL query of the emulator's subset into a selection, the 800,000-row cut included.

    :param query: ``SELECT * | "A", "B" FROM "Table" [WHERE <criteria>] [LIMIT n]``.
    :param workspace: the workspace whose tables the query names.
    :return: the selection.
    :raises CriteriaError: 7835 no FROM, 7403 outside the subset, 7105 an unknown table, 7107 an unknown
        column, 8004 an unknown WHERE column.
    """
    match = _SQL.match(query)
    if match is None:
        if re.match(r"^\s*SELECT\b", query, re.IGNORECASE) and not re.search(r"\bFROM\b", query, re.IGNORECASE):
            raise CriteriaError(7835, "No tables are involved in the SQL query.")
        raise CriteriaError(
            7403, "Parsing of SQL query failed (the emulator reads SELECT ... FROM ... [WHERE] [LIMIT])."
        )
    raw_table = match["table"]
    table_name = raw_table[1:-1].replace('""', '"') if raw_table.startswith('"') else raw_table
    table = workspace.table_named(table_name)
    if table is None:
        raise CriteriaError(7105, f"The table {table_name!r} does not exist in the workspace.")
    columns = match["cols"].strip()
    if columns == "*":
        positions = tuple(range(len(table.columns)))
    else:
        parts = _split_columns(columns)
        if not all(_SQL_COLUMN.match(part) for part in parts):
            raise CriteriaError(7403, f"Parsing of SQL query failed near {columns[:40]!r} (columns only).")
        found = []
        for part in parts:
            part = part.strip()
            qualifier, name = _unquote(part) if part.endswith('"') else (None, part)
            if qualifier is not None and qualifier.casefold() != table.name.casefold():
                raise CriteriaError(7105, f"The table {qualifier!r} is not in the query's FROM clause.")
            column = table.column(name)
            if column is None:
                raise CriteriaError(7107, f"The column {name!r} is not present in the table {table.name!r}.")
            found.append(table.columns.index(column))
        positions = tuple(found)
    predicate = None
    if match["where"]:
        predicate = parse_criteria(match["where"], table, unknown_column=8004, malformed=7403)
    limit = SQL_ROW_LIMIT if match["limit"] is None else min(int(match["limit"]), SQL_ROW_LIMIT)
    names = tuple(table.columns[p].name for p in positions)
    return Selection(table, positions, names, predicate, limit, table.row_count())


def _split_columns(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


@dataclass(frozen=True, slots=True)
class CreatedExport:
    """An export job as the create endpoint received it.

    :param job_id: the id the create answered.
    :param workspace_id: the workspace in the path.
    :param org_id: the ``ZANALYTICS-ORGID`` it came with.
    :param view_id: the table exported; None: a SQL query.
    :param config: the CONFIG JSON (empty without one).
    :param user: who created it (the refresh token of the token it came with).
    :param selection: what it writes.
    :param response_format: the format, lower case.
    :param headers: the create request's headers (without Authorization).
    :param created_at: epoch seconds.
    """

    job_id: str
    workspace_id: str
    org_id: str
    view_id: str | None
    config: Mapping[str, Any]
    user: str | None
    selection: Selection = field(repr=False)
    response_format: str = "csv"
    headers: Mapping[str, str] = field(default_factory=dict)
    created_at: float = 0.0


def _json(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status, body=json.dumps(answer.body).encode(), content_type="application/json", charset="utf-8"
    )


def _error(code: int, message: str | None = None) -> web.Response:
    return _json(PRODUCT.error(code, message=message))


class AnalyticsExports:
    """The export endpoints' state (created jobs, the scripts of those to come) and their aiohttp handlers.

    :param jobs: the emulator's job table, which created jobs join and which checks tokens.
    :param account: the workspaces and tables exported (the import side's, so both see one account).
    """

    def __init__(self, jobs: _Jobs, account: AnalyticsAccount) -> None:
        """Start with no exports and the default outcomes (1001, 1002, then 1004)."""
        self._jobs = jobs
        self.account = account
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.outcomes = ExportOutcomes()
        self._next: collections.deque[tuple[str, ...]] = collections.deque()
        self.created: dict[str, CreatedExport] = {}
        self._expired: set[str] = set()
        self._download_urls: dict[str, str] = {}  # job id -> the absolute downloadUrl its status reports

    # -- scripting ------------------------------------------------------------------------------------------
    def script_next(self, script: Sequence[str]) -> None:
        """Give the next export created (after those already queued) its own script, e.g. ``["1002", "1003"]``.

        :param script: the job codes its status GETs walk through; the last repeats.
        :raises ValueError: a step that is not an Analytics job code.
        """
        steps = _script(script)
        with self.lock:
            self._next.append(steps)

    def expire(self, job_id: str) -> None:
        """Play a job's retention running out: its status answers 1005, its download 8120.

        :param job_id: a created export's id.
        :raises KeyError: no such export.
        """
        with self.lock:
            job = self.created[job_id]
            self._expired.add(job_id)
        self._jobs.add_job(self._spec(job, ("1005",)), PRODUCT)

    def apply_admin(self, payload: Mapping[str, Any]) -> None:
        """Apply ``POST /__emulator__/analytics_export``'s body.

        ``{"script": [...]}`` sets the outcomes of every export from now on; ``{"script": [...], "once": true}``
        only the next one's; ``{"expire": "<job id>"}`` expires a job.

        :param payload: the decoded JSON object.
        :raises ValueError: an unknown key or a bad step.
        :raises KeyError: an unknown job to expire.
        """
        if unknown := set(payload) - {"script", "once", "expire"}:
            raise ValueError(f"analytics export admin takes script, once and expire, not {sorted(unknown)}")
        if payload.get("expire") is not None:
            self.expire(str(payload["expire"]))
        if payload.get("script") is not None:
            if payload.get("once"):
                self.script_next(payload["script"])
            else:
                self.outcomes = ExportOutcomes.from_json({"script": payload["script"]})

    # -- routes ---------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Route the two creates and the download to this object, and the admin POST.

        :param app: the emulator's application (the status GET is the server's, from the dialect table).
        """
        app.router.add_get(BASE + "/views/{view_id}/data", self.create)
        app.router.add_get(BASE + "/data", self.create)
        app.router.add_get(BASE + "/exportjobs/{job_id}/data", self.download)
        app.router.add_post(ADMIN_PATH, self._admin)

    async def _admin(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            self.apply_admin(payload)
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True})

    def status_refusal(self, kind: str, job_id: str, token: str | None) -> Answer | None:
        """Refuse a status GET for another user's export job with 8124 (okf get-export-job-details.md).

        :param kind: the kind whose status route the GET came in on.
        :param job_id: the job in the path.
        :param token: the GET's access token.
        :return: the refusal, or None to answer the status.
        """
        if kind != PRODUCT.kind:
            return None
        with self.lock:
            job = self.created.get(job_id)
        if job is None or job.user == self._jobs.token_user(token):
            return None
        return PRODUCT.error(8124)

    # -- create -----------------------------------------------------------------------------------------------
    async def create(self, request: web.Request) -> web.StreamResponse:
        """Serve a view or SQL export create: check as Zoho does, then register the job.

        :param request: the GET.
        :return: ``{"status": "success", "summary": "Create bulk export job", "data": {"jobId"}}`` or Zoho's error.
        """
        token = access_token(request)
        if not self._jobs.token_valid(token):
            return _json(PRODUCT.invalid_token())
        org_id = request.headers.get(ORG_HEADER)
        if not org_id:
            return _error(8083)
        workspace = self.account.workspace(request.match_info["workspace_id"])
        if workspace is None:
            return _error(7103)
        if workspace.org_id is not None and workspace.org_id != org_id:
            return _error(7387)
        view_id = request.match_info.get("view_id")
        table = self.account.table(workspace.workspace_id, view_id) if view_id is not None else None
        if view_id is not None and table is None:
            return _error(7138)
        raw = request.query.get("CONFIG")
        try:
            config = json.loads(raw) if raw not in (None, "") else {}
        except ValueError:
            return _error(8504, "CONFIG is not a JSON object.")
        if not isinstance(config, dict):
            return _error(8504, "CONFIG is not a JSON object.")
        try:
            response_format, selection = _check_config(config, self._selection(workspace, table, config))
        except CriteriaError as refusal:
            return _error(refusal.code, str(refusal))
        with self.lock:
            active = sum(
                1
                for job in self.created.values()
                if job.org_id == org_id and job.job_id not in self._expired and self._state(job) in ACTIVE_STATES
            )
            if active >= MAX_ACTIVE_JOBS:
                return _error(8132)
            script = self._next.popleft() if self._next else self.outcomes.script
            job_id = str(35_130_000_003_000_000 + next(self._ids))
            sent = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
            job = CreatedExport(
                job_id,
                workspace.workspace_id,
                org_id,
                view_id,
                dict(config),
                self._jobs.token_user(token),
                selection,
                response_format,
                sent,
                time.time(),
            )
            self.created[job_id] = job
            origin = f"{request.scheme}://{request.host}"
            download = f"{origin}{BASE.format(workspace_id=workspace.workspace_id)}/exportjobs/{job_id}/data"
            self._download_urls[job_id] = download
        self._jobs.add_job(self._spec(job, script), PRODUCT)
        return web.json_response({"status": "success", "summary": "Create bulk export job", "data": {"jobId": job_id}})

    def _spec(self, job: CreatedExport, script: tuple[str, ...]) -> JobSpec:
        coordinates = {"workspace_id": job.workspace_id, "org_id": job.org_id}
        details = {"download_url": self._download_urls.get(job.job_id, "")}
        return JobSpec(PRODUCT.kind, job.job_id, script, coordinates, {}, None, None, job.created_at, details)

    def _state(self, job: CreatedExport) -> str:
        return self._jobs.job_state(PRODUCT.kind, job.job_id) or ""

    def _selection(self, workspace: Workspace, table: Table | None, config: Mapping[str, Any]) -> Selection:
        """Return what the job writes, or raise Zoho's refusal of its CONFIG."""
        if table is None:  # SQL: okf create-export-job-sql-query.md, "Error Codes"
            if not config:
                raise CriteriaError(8077, "The CONFIG was not sent, or was sent empty.")
            if "sqlQuery" not in config:
                raise CriteriaError(8079, "The attribute sqlQuery is not present in the CONFIG.")
            query = config["sqlQuery"]
            if not isinstance(query, str) or not query.strip():
                raise CriteriaError(8078, "The attribute sqlQuery is empty.")
            selection = parse_sql(query, workspace)
            return _with_table_criteria(selection, workspace, config.get("tableCriteriaList"))
        predicate = None
        criteria = config.get("criteria")
        if criteria not in (None, ""):
            if not isinstance(criteria, str):
                raise CriteriaError(7331, "criteria must be a string.")
            predicate = parse_criteria(criteria, table, unknown_column=7330, malformed=7331)
        positions = tuple(range(len(table.columns)))
        names = tuple(column.name for column in table.columns)
        return Selection(table, positions, names, predicate, None, table.row_count())

    # -- download ---------------------------------------------------------------------------------------------
    async def download(self, request: web.Request) -> web.StreamResponse:
        """Serve ``…/exportjobs/{job}/data``: the file itself, streamed, or Zoho's JSON error.

        :param request: the GET.
        :return: the file (no envelope, no Content-Disposition) or 8535, 8083, 8120, 8124, 8121, 8122, 8123.
        """
        token = access_token(request)
        if not self._jobs.token_valid(token):
            return _json(PRODUCT.invalid_token())
        if not request.headers.get(ORG_HEADER):
            return _error(8083)
        job_id = request.match_info["job_id"]
        with self.lock:
            job = self.created.get(job_id)
            expired = job_id in self._expired
        if job is None or job.workspace_id != request.match_info["workspace_id"] or expired:
            return _error(8120, f"Job {job_id} not found.")
        if time.time() * 1000 >= job.created_at * 1000 + ANALYTICS_EXPORT_RETENTION_MS:
            return _error(8120, f"Job {job_id} not found.")
        if job.user != self._jobs.token_user(token):
            return _error(8124)
        state = self._state(job)
        refusal = {"1001": 8121, "1002": 8122, "1003": 8123, "1005": 8120}.get(state)
        if refusal is not None:
            return _error(refusal)
        response = web.StreamResponse(status=200)
        response.content_type = CONTENT_TYPES[job.response_format]
        if job.response_format in ("csv", "json", "xml", "html"):
            response.charset = "utf-8"
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for chunk in _file_chunks(job, request.path):
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away mid-file
        return response


def _with_table_criteria(selection: Selection, workspace: Workspace, entries: Any) -> Selection:
    """AND the query's tableCriteriaList into its selection (okf overview.md, "tableCriteriaList structure")."""
    if entries is None:
        return selection
    if not isinstance(entries, list) or len(entries) > MAX_TABLE_CRITERIA:
        raise CriteriaError(8547, f"tableCriteriaList holds 0 to {MAX_TABLE_CRITERIA} entries.")
    tests: list[Predicate] = []
    for entry in entries:
        if not isinstance(entry, dict) or "viewId" not in entry or "criteria" not in entry:
            raise CriteriaError(8079, "Each tableCriteriaList entry needs viewId and criteria.")
        view_id = str(entry["viewId"])
        if view_id not in workspace.tables:
            raise CriteriaError(7571, f"The viewId {view_id} does not exist in this workspace.")
        if view_id != selection.table.view_id:
            raise CriteriaError(7836, f"The table {view_id} is not involved in the SQL query.")
        tests.append(parse_criteria(str(entry["criteria"]), selection.table, unknown_column=8004, malformed=7331))
    if not tests:
        return selection
    first = selection.predicate
    combined: Predicate = lambda row: (first is None or first(row)) and all(test(row) for test in tests)  # noqa: E731
    return Selection(
        selection.table, selection.positions, selection.names, combined, selection.limit, selection.row_total
    )


def _check_config(config: Mapping[str, Any], selection: Selection) -> tuple[str, Selection]:
    """Check the format and CSV attributes, narrow to selectedColumns; return the format (lower case) and selection.

    Raises :class:`CriteriaError` with Zoho's code (okf overview.md, "Shared CONFIG Attributes").
    """
    response_format = str(config.get("responseFormat", "csv")).lower()
    if response_format not in CONTENT_TYPES:
        raise CriteriaError(8001, f"responseFormat must be one of {', '.join(CONTENT_TYPES)}.")
    if response_format == "image":  # a SQL result and a table are sheets, not charts
        raise CriteriaError(8014, "Image response is not possible: the source is not a chart.")
    for name, allowed in (("delimiter", DELIMITERS), ("recordDelimiter", RECORD_DELIMITERS), ("quoted", QUOTES)):
        if name in config and _choice(config[name]) not in allowed:
            raise CriteriaError(8119, f"{name} must be one of {sorted(allowed)}.")
    callback = config.get("callbackUrl")
    if callback is not None:
        _check_callback(callback)
    selected = config.get("selectedColumns")
    if selected is None:
        return response_format, selection
    if not isinstance(selected, list) or not 1 <= len(selected) <= MAX_SELECTED_COLUMNS:
        raise CriteriaError(8547, f"selectedColumns holds 1 to {MAX_SELECTED_COLUMNS} names.")
    exported = {selection.table.columns[p].name for p in selection.positions}
    positions = []
    for name in selected:
        column = selection.table.column(name) if isinstance(name, str) else None
        if column is None or column.name not in exported:
            raise CriteriaError(8015, f"The column {name!r} in selectedColumns is not present.")
        positions.append(selection.table.columns.index(column))
    names = tuple(selection.table.columns[p].name for p in positions)
    return response_format, dataclasses.replace(selection, positions=tuple(positions), names=names)


def _choice(value: Any) -> int:
    """Read an enumerated CSV attribute: a number, or its digits as text (*unverified* that Zoho takes text); -1 else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return -1


def _check_callback(url: Any) -> None:
    if not isinstance(url, str) or len(url) > MAX_CALLBACK_URL:
        raise CriteriaError(8125, "callbackUrl is not a valid URL.")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise CriteriaError(8125, "callbackUrl is not a valid URL.")
    host = parsed.hostname
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost") or host.endswith(".local"):
            raise CriteriaError(8127, "callbackUrl resolves to a private or internal address.") from None
        return
    if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
        raise CriteriaError(8127, "callbackUrl resolves to a private or internal address.")


def _file_chunks(job: CreatedExport, path: str) -> Iterator[bytes]:
    """Yield the exported file in chunks of ``_CHUNK_ROWS`` rows, as the job's format writes it."""
    config = job.config
    selection = job.selection
    if job.response_format == "csv":
        yield from _csv_chunks(selection, config)
    elif job.response_format == "json":
        yield from _json_chunks(selection, config, path)
    else:
        # A placeholder of the format's content type: the emulator writes no xml, xls, pdf or html file.
        yield f"emulator placeholder: a {job.response_format} export of {len(selection.names)} columns\n".encode()


def _batched(rows: Iterator[tuple[str, ...]]) -> Iterator[list[tuple[str, ...]]]:
    while batch := list(itertools.islice(rows, _CHUNK_ROWS)):
        yield batch


def _csv_chunks(selection: Selection, config: Mapping[str, Any]) -> Iterator[bytes]:
    delimiter = DELIMITERS[_choice(config.get("delimiter", 0))]
    line_end = RECORD_DELIMITERS[_choice(config.get("recordDelimiter", 0))]
    quote = QUOTES[_choice(config["quoted"])] if "quoted" in config else None
    if quote is None:  # no qualifier asked for: quote only a value that needs it (*unverified*)
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)

        def write(batch: Sequence[Sequence[str]]) -> bytes:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(batch)
            return buffer.getvalue().encode()

    else:
        doubled = quote * 2

        def write(batch: Sequence[Sequence[str]]) -> bytes:
            return "".join(
                delimiter.join(f"{quote}{value.replace(quote, doubled)}{quote}" for value in row) + line_end
                for row in batch
            ).encode()

    if config.get("includeHeader", True) not in (False, "false"):
        yield write([selection.names])
    for batch in _batched(selection.rows()):
        yield write(batch)


def _json_chunks(selection: Selection, config: Mapping[str, Any], path: str) -> Iterator[bytes]:
    names = selection.names
    key_value = config.get("keyValueFormat", True) not in (False, "false")
    if key_value:
        yield b'{"data":['
    else:
        head = {"uri": path, "action": "EXPORT"}
        yield (json.dumps({"response": head})[:-2] + ',"result":{"column_order":' + json.dumps(list(names))).encode()
        yield b',"rows":['
    first = True
    for batch in _batched(selection.rows()):
        items = (json.dumps(dict(zip(names, row, strict=True)) if key_value else list(row)) for row in batch)
        text = ",".join(items)
        yield (text if first else "," + text).encode()
        first = False
    yield b"]}" if key_value else b"]}}}"
