"""Zoho Creator's bulk read (API v2.1) in the emulator: create a job of a report, poll it, download a zip of one CSV.

``POST /creator/v2.1/bulk/{owner}/{app}/report/{report}/read`` creates a job (body optional:
``{"query": {"fields"?, "criteria"?, "max_records"?}}``); it joins the emulator's job table, so ``GET …/read/{job}``
(the ``creator_bulk_read`` product of :mod:`~airflow_provider_zoho.testing.dialects`) walks ``ReadOutcomes.script``;
``GET …/read/{job}/result`` (or the docs' legacy ``/api/bulk/v2.1/…/result``) answers the zip. A report shows one
form's records (:meth:`~airflow_provider_zoho.testing.creator_account.CreatorApp.report_form`): the rows of the
form's completed bulk inserts, the records seeded with :meth:`CreatorBulkReads.seed_records` (or ``POST
/__emulator__/creator_records``), then any number of synthetic records generated from their index (never stored).

Zoho's rules, each where its source says (pages under https://www.zoho.com/creator/help/api/v2.1/bulk-read-api/):

- create-bulk-read-job.html: scope ``ZohoCreator.bulk.CREATE`` (``oauth_scopes``); ``query.fields`` link names,
  ``query.criteria`` a Creator criteria string, ``query.max_records`` the records of one batch, ``query.record_cursor``
  the next batch's token, valid 15 minutes. The next batch is a new
  create whose query holds **only** the cursor; any other key beside it is refused. The create answers
  ``{"code": 3000, "details": {"id", "operation": "read", "created_by", "created_time", "status", "query"}}``.
- get-bulk-read-job-status.html: ``result`` {count, download_url (the legacy ``/api/bulk/v2.1/…`` form),
  record_cursor} once completed; the last batch carries no ``record_cursor``.
- download-bulk-read-result.html: a zip holding one CSV; the ``recordCursor`` response header while more remain.
- limitations (https://www.zoho.com/creator/help/api/creator-known-issues-and-limitations.html, the same text as
  the bulk API's limitations page): ``max_records`` 100,000 by default, at least 100,000, at most 200,000, a
  multiple of 1000; only the cursor in a next batch's request; 5 creates and 10 downloads per minute per user,
  then 2955 (HTTP 429, *unverified*: the code, as the dialect's rate limit); a result is kept 24 hours.
- https://www.zoho.com/creator/help/api/v2.1/status-codes.html: 1060 "Invalid request parameter found" (HTTP 401,
  as that page says) for a query key Zoho does not take, or one beside the cursor; 1030 a bad token; 1040 /
  2892 an unknown owner / application.

*unverified*, each a plausible guess: 2894 for an unknown report (Creator's v1 "Wrong View Name specified",
``creator_account.find_report``); 11000 "invalid value" (Zoho's Creator OpenAPI file) with HTTP 400 for a
``max_records`` out of range, a field the form lacks, a criteria outside the emulator's subset, an unknown or
expired cursor; 11120 (the insert result's code) for a result asked for before the job completed; the CSV's
``ID`` column first; the cursor's 15 minutes counted from the job's creation; a top-level ``{"record_cursor"}``
accepted as well as ``{"query": {"record_cursor"}}``. A user is a refresh token (one user's grant).

The criteria subset: ``Field <op> "text" | number`` with ``== != < <= > >=``, joined by ``&&`` / ``||``
(``&&`` binding tighter), in parentheses or not; anything else is refused rather than guessed at.
"""

from __future__ import annotations

import asyncio
import collections
import csv
import datetime
import io
import itertools
import re
import secrets
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from airflow_provider_zoho.testing.creator_account import CreatorField, CreatorForm, Refusal
from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, JobSpec, emulator_state_key
from airflow_provider_zoho.testing.incoming import access_token
from airflow_provider_zoho.testing.store import JobTable

if TYPE_CHECKING:
    from airflow_provider_zoho.testing.creator_insert import CreatorInserts

__all__ = ["ADMIN_PATH", "RECORDS_ADMIN_PATH", "CreatedRead", "CreatorBulkReads", "ReadOutcomes", "parse_criteria"]

PRODUCT = EMULATED_PRODUCTS["creator_bulk_read"]
INSERT_KIND = "creator_bulk_insert"
BASE = "/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/report/{report_link_name}/read"
#: download-bulk-read-result.html's request URL (and the status's ``download_url``).
LEGACY_BASE = "/api/bulk/v2.1/{account_owner_name}/{app_link_name}/report/{report_link_name}/read"
#: The admin endpoints (under the server's ``ADMIN_PREFIX``): the reads to come, and a form's records.
ADMIN_PATH = "/__emulator__/creator_bulk_read"
RECORDS_ADMIN_PATH = "/__emulator__/creator_records"
#: creator-known-issues-and-limitations.html: a batch's records, 100,000 (the default) to 200,000, by 1000s.
MIN_RECORDS, MAX_RECORDS, DEFAULT_RECORDS, RECORDS_STEP = 100_000, 200_000, 100_000, 1000
#: create-bulk-read-job.html: a record_cursor is valid 15 minutes.
CURSOR_TTL = 15 * 60.0
#: limitations.html: creates and downloads per minute per user; a result is kept 24 hours.
CREATES_PER_MINUTE, DOWNLOADS_PER_MINUTE = 5, 10
RESULT_KEPT = 24 * 3600.0
QUERY_KEYS = frozenset({"fields", "criteria", "max_records", "record_cursor"})
INVALID_VALUE = 11000  # *unverified*, see the module docstring
NOT_COMPLETED = 11120  # *unverified*


class _Jobs(JobTable, Protocol):
    def token_user(self, token: str | None) -> str | None:
        """Return who a live token acts for (see :meth:`Store.token_user`)."""
        ...


@dataclass(frozen=True, slots=True)
class ReadOutcomes:
    """How bulk reads created from now on go.

    :param script: the states their status GETs walk through (the last repeats), e.g. ``("In-progress",
        "Failed")``, or ``("In-progress",)`` for a job that never ends.
    :param error_message: what a Failed job says (*unverified* where: ``details.message``).
    """

    script: tuple[str, ...] = ("In-progress", "Completed")
    error_message: str | None = None


class Problem(ValueError):
    """Creator's refusal: code, message, HTTP status."""

    def __init__(self, code: int, message: str, status: int = 400) -> None:
        """Keep the code and status beside the message."""
        super().__init__(message)
        self.code = code
        self.status = status


Predicate = Callable[[Mapping[str, str]], bool]
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|<|>)'
    r"|(?P<logic>&&|\|\|)|(?P<paren>[()])|(?P<name>[A-Za-z_][\w.]*))"
)
_OPS: Mapping[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def parse_criteria(text: str, fields: Iterable[str]) -> Predicate:
    """Compile a Creator criteria string of the emulator's subset, e.g. ``(Status == "Open" && Amount > 10)``.

    :param text: the criteria.
    :param fields: the form's field link names (and ``ID``).
    :return: a predicate over a record ``{link name: value}``.
    :raises Problem: 11000 (*unverified*) for a field the form lacks or an expression outside the subset.
    """
    known = set(fields)
    tokens: list[tuple[str, str]] = []
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        if match is None:
            raise Problem(INVALID_VALUE, f"Invalid criteria near {text[position : position + 20]!r}.")
        tokens.append((match.lastgroup or "", match.group(match.lastgroup or 0)))
        position = match.end()
    index = 0

    def peek() -> tuple[str, str]:
        return tokens[index] if index < len(tokens) else ("", "")

    def take() -> tuple[str, str]:
        nonlocal index
        token = peek()
        index += 1
        return token

    def disjunction() -> Predicate:
        parts = [conjunction()]
        while peek() == ("logic", "||"):
            take()
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda record: any(part(record) for part in parts))

    def conjunction() -> Predicate:
        parts = [term()]
        while peek() == ("logic", "&&"):
            take()
            parts.append(term())
        return parts[0] if len(parts) == 1 else (lambda record: all(part(record) for part in parts))

    def term() -> Predicate:
        if peek() == ("paren", "("):
            take()
            inner = disjunction()
            if take() != ("paren", ")"):
                raise Problem(INVALID_VALUE, f"Invalid criteria {text!r}: a parenthesis is not closed.")
            return inner
        kind, name = take()
        op_kind, op = take()
        value_kind, literal = take()
        if kind != "name" or op_kind != "op" or value_kind not in ("str", "num"):
            raise Problem(INVALID_VALUE, f'Invalid criteria {text!r}: expected Field <op> "value".')
        if name not in known:
            raise Problem(INVALID_VALUE, f"Invalid criteria {text!r}: no field {name!r} in the form.")
        value = literal[1:-1].replace('\\"', '"') if value_kind == "str" else literal
        return _comparison(name, _OPS[op], value)

    predicate = disjunction()
    if index != len(tokens):
        raise Problem(INVALID_VALUE, f"Invalid criteria {text!r} near {tokens[index][1]!r}.")
    return predicate


def _comparison(name: str, op: Callable[[Any, Any], bool], literal: str) -> Predicate:
    number = _number(literal)

    def test(record: Mapping[str, str]) -> bool:
        value = record.get(name, "")
        if number is not None and (other := _number(value)) is not None:
            return op(other, number)
        return op(value, literal)

    return test


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def synthetic_value(one: CreatorField, number: int) -> str:
    """Return synthetic record ``number``'s value of a field, from its type (the same every time)."""
    if one.type == "Email":
        return f"user{number + 1}@example.com"
    if one.type == "Number":
        return str(number + 1)
    if one.type == "Date":
        return (datetime.date(2024, 1, 1) + datetime.timedelta(days=number % 3650)).strftime("%d-%b-%Y")
    return f"{one.link_name} {number + 1}"


@dataclass
class _Records:
    """A form's seeded records (each with its ID) and how many synthetic ones follow."""

    rows: list[dict[str, str]] = field(default_factory=list)
    synthetic: int = 0


@dataclass(frozen=True, slots=True)
class _Source:
    """The records a job reads: a snapshot of the explicit ones, the synthetic count, and which match."""

    form: CreatorForm
    explicit: tuple[Mapping[str, str], ...]
    synthetic: int
    matching: tuple[int, ...] | None  # indices kept by the criteria; None: every record

    @property
    def total(self) -> int:
        return len(self.explicit) + self.synthetic if self.matching is None else len(self.matching)

    def row(self, position: int, wanted: Sequence[CreatorField]) -> list[str]:
        """Return the ``ID`` and ``wanted`` fields' values of the record at ``position`` (synthetic ones made, not kept)."""
        index = position if self.matching is None else self.matching[position]
        if index < len(self.explicit):
            record = self.explicit[index]
            return [record.get("ID", ""), *(record.get(one.link_name, "") for one in wanted)]
        number = index - len(self.explicit)
        return [_synthetic_id(number), *(synthetic_value(one, number) for one in wanted)]


def _record(form: CreatorForm, explicit: Sequence[Mapping[str, str]], index: int) -> Mapping[str, str]:
    if index < len(explicit):
        return explicit[index]
    number = index - len(explicit)
    values = {one.link_name: synthetic_value(one, number) for one in form.fields}
    return {"ID": _synthetic_id(number), **values}


def _synthetic_id(number: int) -> str:
    return str(4_100_000_000_000_000 + number)


@dataclass(frozen=True, slots=True)
class _Cursor:
    coordinates: Mapping[str, str | None]
    fields: tuple[str, ...]
    max_records: int
    offset: int
    source: _Source
    issued_at: float
    user: str | None


@dataclass(frozen=True, slots=True)
class CreatedRead:
    """A bulk read job as the create endpoint received it.

    :param job_id: the id the create answered.
    :param coordinates: owner, app, report and environment.
    :param query: the query as the create answered it.
    :param fields: the CSV's fields (after ``ID``).
    :param offset: the first record of this batch among the report's (matching) records.
    :param count: the records of this batch.
    :param record_cursor: the cursor of the next batch; None: the last batch.
    :param user: who created it (a refresh token).
    :param created_at: epoch seconds.
    :param headers: the create request's headers (without Authorization).
    :param body: the create request's JSON body (None without one).
    """

    job_id: str
    coordinates: Mapping[str, str | None]
    query: Mapping[str, Any]
    fields: tuple[str, ...]
    offset: int
    count: int
    record_cursor: str | None
    user: str | None
    created_at: float
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    source: _Source | None = field(default=None, repr=False)


def _answer(code: int, message: str, status: int = 200, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


def _refused(problem: Problem | Refusal) -> web.Response:
    code, message = problem.code, problem.message if isinstance(problem, Refusal) else str(problem)
    return _answer(code, message, problem.status)


class CreatorBulkReads:
    """The bulk read endpoints' state (jobs, cursors, records, throttles) and their aiohttp handlers.

    :param jobs: the emulator's job table, which created jobs join and which checks tokens.
    :param inserts: the bulk insert side, whose account (apps, forms, reports) and completed jobs' rows are read.
    """

    def __init__(self, jobs: _Jobs, inserts: CreatorInserts) -> None:
        """Start with no jobs or records and the default outcomes (In-progress, then Completed)."""
        self._jobs = jobs
        self._inserts = inserts
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.outcomes = ReadOutcomes()
        self._next: collections.deque[ReadOutcomes] = collections.deque()
        self.created: dict[str, CreatedRead] = {}
        self._cursors: dict[str, _Cursor] = {}
        self._records: dict[tuple[str, str, str], _Records] = {}
        self._calls: dict[tuple[str, str | None], collections.deque[float]] = {}
        #: Seconds a record_cursor stays valid (Zoho: 15 minutes); a test sets 0 to play an expired one.
        self.cursor_ttl = CURSOR_TTL
        #: The throttles' window in seconds (Zoho: a minute).
        self.throttle_window = 60.0

    # -- scripting and seeding --------------------------------------------------------------------------------
    def script_next(self, script: Sequence[str], error_message: str | None = None) -> None:
        """Give the next bulk read created (after those already queued) its own states, e.g. ``["Failed"]``.

        :param script: the states its status GETs walk through; the last repeats.
        :param error_message: what it says once Failed.
        :raises ValueError: a state the product does not have.
        """
        outcome = _outcomes(script, error_message)
        with self.lock:
            self._next.append(outcome)

    def set_outcomes(self, script: Sequence[str], error_message: str | None = None) -> None:
        """Set the states every bulk read created from now on walks through.

        :param script: the states; the last repeats.
        :param error_message: what a Failed job says.
        :raises ValueError: a state the product does not have.
        """
        self.outcomes = _outcomes(script, error_message)

    def seed_records(
        self,
        owner: str,
        app: str,
        form: str,
        records: Iterable[Mapping[str, Any]] = (),
        count: int = 0,
        *,
        replace: bool = False,
    ) -> int:
        """Give a form records for its reports' bulk reads.

        :param owner: the app's owner.
        :param app: the app's link name.
        :param form: the form's link name.
        :param records: records ``{field link name: value}`` (an ``ID`` of their own, else one is given).
        :param count: synthetic records after them, generated from their index when read (never stored).
        :param replace: drop the form's seeded records first.
        :return: the form's seeded records afterwards (synthetic included).
        :raises ValueError: no such app or form, a field the form lacks, or a negative count.
        """
        found = self._inserts.account.find_form(owner, app, form, None)
        if isinstance(found, Refusal):
            raise ValueError(found.message)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a whole number >= 0, got {count!r}")
        names = [one.link_name for one in found.fields]
        with self.lock:
            held = self._records.setdefault((owner, app, form), _Records())
            if replace:
                held.rows, held.synthetic = [], 0
            for record in records:
                if unknown := set(record) - {"ID", *names}:
                    raise ValueError(f"form {form} has no field {sorted(unknown)}")
                row = {name: "" if record.get(name) is None else str(record[name]) for name in names}
                row_id = record.get("ID") or 3_900_000_000_000_000 + len(held.rows) + 1
                held.rows.append({"ID": str(row_id), **row})
            held.synthetic += count
            return len(held.rows) + held.synthetic

    def apply_admin(self, payload: Mapping[str, Any]) -> None:
        """Apply ``POST /__emulator__/creator_bulk_read``'s body.

        ``{"script": [...], "error_message"?: "...", "once"?: true, "cursor_ttl"?: seconds}``: the states of every
        read from now on, or (``once``) of the next one only; how long cursors stay valid.

        :param payload: the decoded JSON object.
        :raises ValueError: an unknown key or a bad state.
        """
        if unknown := set(payload) - {"script", "error_message", "once", "cursor_ttl"}:
            raise ValueError(
                f"creator bulk read admin takes script, error_message, once, cursor_ttl; not {sorted(unknown)}"
            )
        if payload.get("cursor_ttl") is not None:
            self.cursor_ttl = float(payload["cursor_ttl"])
        if payload.get("script") is not None:
            if payload.get("once"):
                self.script_next(payload["script"], payload.get("error_message"))
            else:
                self.set_outcomes(payload["script"], payload.get("error_message"))

    # -- routes ---------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Route the create, the download (both forms) and the admin POSTs to this object.

        :param app: the emulator's application (the status GET is the server's, from the dialect table).
        """
        app.router.add_post(BASE, self._guarded(self.create))
        app.router.add_get(BASE + "/{job_id}/result", self._guarded(self.download))
        app.router.add_get(LEGACY_BASE + "/{job_id}/result", self._guarded(self.download))
        app.router.add_post(ADMIN_PATH, self._admin(self.apply_admin))
        app.router.add_post(RECORDS_ADMIN_PATH, self._admin(self._seed_from_json))

    def _guarded(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if not self._jobs.token_valid(access_token(request)):
                invalid = PRODUCT.invalid_token()
                return web.json_response(invalid.body, status=invalid.status)
            return await handler(request)  # type: ignore[no-any-return]

        return guarded

    @staticmethod
    def _admin(apply: Callable[[Mapping[str, Any]], Any]) -> Callable[[web.Request], Any]:
        async def serve(request: web.Request) -> web.Response:
            try:
                payload = await request.json()
                if not isinstance(payload, dict):
                    raise ValueError("expected a JSON object")
                result = apply(payload)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
            return web.json_response({"ok": True, **(result or {})})

        return serve

    def _seed_from_json(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``{"owner", "app", "form", "records"?: [{...}], "count"?: N, "replace"?: false}``."""
        if unknown := set(payload) - {"owner", "app", "form", "records", "count", "replace"}:
            raise ValueError(f"records take owner, app, form, records, count and replace; not {sorted(unknown)}")
        records = payload.get("records") or []
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError("records must be a list of objects")
        total = self.seed_records(
            str(payload["owner"]),
            str(payload["app"]),
            str(payload["form"]),
            records,
            payload.get("count") or 0,
            replace=bool(payload.get("replace")),
        )
        return {"record_count": total}

    # -- throttles --------------------------------------------------------------------------------------------
    def _throttled(self, what: str, user: str | None, limit: int) -> bool:
        now = time.monotonic()
        with self.lock:
            calls = self._calls.setdefault((what, user), collections.deque())
            while calls and now - calls[0] >= self.throttle_window:
                calls.popleft()
            if len(calls) >= limit:
                return True
            calls.append(now)
            return False

    @staticmethod
    def _rate_limited() -> web.Response:
        answer = PRODUCT.rate_limited(None)
        return web.json_response(answer.body, status=answer.status)

    # -- create -----------------------------------------------------------------------------------------------
    @staticmethod
    def _coordinates(request: web.Request) -> dict[str, str | None]:
        names = ("account_owner_name", "app_link_name", "report_link_name")
        return {**{n: request.match_info[n] for n in names}, "environment": request.headers.get("environment")}

    async def create(self, request: web.Request) -> web.StreamResponse:
        """Serve a bulk read create: a first batch from its query, or the next one from a cursor.

        :param request: the POST.
        :return: ``{"code": 3000, "details": {...}}`` or Creator's refusal.
        """
        coordinates = self._coordinates(request)
        form = self._inserts.account.find_report(
            str(coordinates["account_owner_name"]),
            str(coordinates["app_link_name"]),
            str(coordinates["report_link_name"]),
            coordinates["environment"],
        )
        if isinstance(form, Refusal):
            return _refused(form)
        body: Any = None
        if request.body_exists and (await request.read()).strip():
            try:
                body = await request.json()
            except ValueError:
                return _answer(INVALID_VALUE, "The body is not JSON.", 400)
        token = access_token(request)
        user = self._jobs.token_user(token)
        try:
            query = _query(body)
            if "record_cursor" in query:
                cursor = self._cursor(query, coordinates, user)
                fields, max_records, offset, source = cursor.fields, cursor.max_records, cursor.offset, cursor.source
                answered: dict[str, Any] = {"record_cursor": query["record_cursor"]}
            else:
                fields, max_records, predicate = _first_batch(query, form)
                source = self._source(coordinates, form, predicate)
                offset = 0
                answered = {**query, "max_records": max_records}
        except Problem as problem:
            return _refused(problem)
        if self._throttled("create", user, CREATES_PER_MINUTE):
            return self._rate_limited()
        count = max(0, min(max_records, source.total - offset))
        now = time.time()
        job_id = str(2_000_000_010_000 + next(self._ids))
        cursor_token = None
        if offset + count < source.total:
            cursor_token = secrets.token_hex(24)
            with self.lock:
                self._cursors[cursor_token] = _Cursor(
                    coordinates, fields, max_records, offset + count, source, time.monotonic(), user
                )
        with self.lock:
            outcome = self._next.popleft() if self._next else self.outcomes
        sent = {name: value for name, value in request.headers.items() if name.lower() != "authorization"}
        job = CreatedRead(
            job_id, coordinates, answered, fields, offset, count, cursor_token, user, now, sent, body, source
        )
        with self.lock:
            self.created[job_id] = job
        created_time = time.strftime("%d-%b-%Y %H:%M:%S", time.gmtime(now))
        details = {
            "query": answered,
            "created_by": coordinates["account_owner_name"],
            "created_time": created_time,
            "record_cursor": cursor_token,
        }
        spec = JobSpec(
            PRODUCT.kind,
            job_id,
            outcome.script,
            coordinates,
            {"count": count},
            outcome.error_message,
            None,
            now,
            details,
        )
        self._jobs.add_job(spec, PRODUCT)
        answer = {
            "id": job_id,
            "operation": "read",
            "created_by": coordinates["account_owner_name"],
            "created_time": created_time,
            "status": "In-progress",
            "query": answered,
        }
        return web.json_response({"code": 3000, "details": answer})

    def _cursor(self, query: Mapping[str, Any], coordinates: Mapping[str, str | None], user: str | None) -> _Cursor:
        if set(query) != {"record_cursor"}:
            extra = sorted(set(query) - {"record_cursor"})
            # The next batch's body holds only the cursor (create-bulk-read-job.html); status-codes.html: 1060.
            raise Problem(1060, f"Invalid request parameter found - {extra[0]}", 401)
        with self.lock:
            cursor = self._cursors.get(str(query["record_cursor"]))
        if cursor is None or cursor.coordinates != coordinates or cursor.user != user:
            raise Problem(INVALID_VALUE, "Invalid record_cursor.")
        if time.monotonic() - cursor.issued_at >= self.cursor_ttl:
            raise Problem(INVALID_VALUE, "The record_cursor has expired: it is valid for 15 minutes.")
        return cursor

    def _source(self, coordinates: Mapping[str, str | None], form: CreatorForm, predicate: Predicate | None) -> _Source:
        owner, app = str(coordinates["account_owner_name"]), str(coordinates["app_link_name"])
        with self.lock:
            held = self._records.get((owner, app, form.link_name), _Records())
            explicit = (*self._inserted(coordinates, form), *held.rows)
            synthetic = held.synthetic
        matching = None
        if predicate is not None:
            total = len(explicit) + synthetic
            matching = tuple(i for i in range(total) if predicate(_record(form, explicit, i)))
        return _Source(form, tuple(explicit), synthetic, matching)

    def _inserted(self, coordinates: Mapping[str, str | None], form: CreatorForm) -> list[dict[str, str]]:
        """Return the rows of the form's completed bulk inserts (less the scripted failed lines), each with an ID."""
        rows: list[dict[str, str]] = []
        with self._inserts.lock:
            jobs = list(self._inserts.created.values())
        failed = self._inserts.outcomes.failed
        for job in jobs:
            same = (
                job.coordinates.get("account_owner_name") == coordinates["account_owner_name"]
                and job.coordinates.get("app_link_name") == coordinates["app_link_name"]
                and job.coordinates.get("form_link_name") == form.link_name
            )
            state = self._jobs.job_state(INSERT_KIND, job.job_id) or ""
            if not same or job.csv_text is None or emulator_state_key(state) != "COMPLETED":
                continue
            for line, row in enumerate(csv.DictReader(io.StringIO(job.csv_text)), 2):
                if line not in failed:
                    values = {one.link_name: row.get(one.link_name) or "" for one in form.fields}
                    rows.append({"ID": str(3_800_000_000_000_000 + len(rows) + 1), **values})
        return rows

    # -- download ---------------------------------------------------------------------------------------------
    async def download(self, request: web.Request) -> web.StreamResponse:
        """Serve a completed job's result: a zip of one CSV, ``recordCursor`` while more records remain.

        :param request: the GET (the v2.1 path or the docs' legacy one).
        :return: the zip, or Creator's refusal.
        """
        job_id = request.match_info["job_id"]
        with self.lock:
            job = self.created.get(job_id)
        coordinates = self._coordinates(request)
        if job is None or job.coordinates != coordinates or time.time() - job.created_at >= RESULT_KEPT:
            return _answer(1000, "No bulk read job of that id for this report.", 404)
        state = emulator_state_key(self._jobs.job_state(PRODUCT.kind, job_id) or "")
        if state != "COMPLETED" or job.source is None:
            return _answer(NOT_COMPLETED, "The result is not available: the job has not completed.", 400)
        if self._throttled("download", self._jobs.token_user(access_token(request)), DOWNLOADS_PER_MINUTE):
            return self._rate_limited()
        data = await asyncio.get_running_loop().run_in_executor(None, _zip, job)
        headers = {"Content-Disposition": f'attachment; filename="{job_id}.zip"'}
        if job.record_cursor is not None:
            headers["recordCursor"] = job.record_cursor
        return web.Response(body=data, content_type="application/zip", headers=headers)


def _zip(job: CreatedRead) -> bytes:
    """Write the job's CSV (``ID`` then its fields) into a zip, in memory (a batch is at most 200,000 records)."""
    assert job.source is not None
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["ID", *job.fields])
    source = job.source
    by_name = {one.link_name: one for one in source.form.fields}
    wanted = [by_name[name] for name in job.fields]
    end = job.offset + job.count
    for start in range(job.offset, end, 10_000):
        writer.writerows(source.row(position, wanted) for position in range(start, min(start + 10_000, end)))
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{job.coordinates['report_link_name']}_{job.job_id}.csv", text.getvalue())
    return data.getvalue()


def _outcomes(script: Sequence[str], error_message: str | None) -> ReadOutcomes:
    steps = tuple(str(step) for step in script)
    if not steps:
        raise ValueError("a script needs at least one state")
    for step in steps:
        PRODUCT.canonical_state(step)
    return ReadOutcomes(steps, error_message)


def _query(body: Any) -> dict[str, Any]:
    """Return the body's query: ``{"query": {...}}``, a top-level ``{"record_cursor"}`` (*unverified*), or none."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise Problem(INVALID_VALUE, "The body must be a JSON object.")
    if set(body) == {"record_cursor"}:
        return dict(body)
    if unknown := set(body) - {"query"}:
        raise Problem(1060, f"Invalid request parameter found - {sorted(unknown)[0]}", 401)
    query = body.get("query") or {}
    if not isinstance(query, dict):
        raise Problem(INVALID_VALUE, "query must be a JSON object.")
    if unknown := set(query) - QUERY_KEYS:
        raise Problem(1060, f"Invalid request parameter found - {sorted(unknown)[0]}", 401)
    return dict(query)


def _first_batch(query: Mapping[str, Any], form: CreatorForm) -> tuple[tuple[str, ...], int, Predicate | None]:
    """Check a first batch's query: its fields, criteria and max_records (create-bulk-read-job.html)."""
    names = [one.link_name for one in form.fields]
    fields = query.get("fields")
    if fields is None:
        chosen = tuple(names)
    else:
        if not isinstance(fields, list) or not fields or not all(isinstance(name, str) for name in fields):
            raise Problem(INVALID_VALUE, "fields must be a list of field link names.")
        if unknown := [name for name in fields if name not in names]:
            raise Problem(INVALID_VALUE, f"Invalid field(s) {', '.join(unknown)}: not fields of form {form.link_name}.")
        chosen = tuple(dict.fromkeys(name for name in fields if name != "ID"))
    max_records = query.get("max_records", DEFAULT_RECORDS)
    if (
        isinstance(max_records, bool)
        or not isinstance(max_records, int)
        or not MIN_RECORDS <= max_records <= MAX_RECORDS
        or max_records % RECORDS_STEP
    ):
        raise Problem(
            INVALID_VALUE, f"max_records must be a multiple of {RECORDS_STEP} from {MIN_RECORDS} to {MAX_RECORDS}."
        )
    criteria = query.get("criteria")
    predicate = None
    if criteria not in (None, ""):
        if not isinstance(criteria, str):
            raise Problem(INVALID_VALUE, "criteria must be a string.")
        predicate = parse_criteria(criteria, ["ID", *names])
    return chosen, max_records, predicate
