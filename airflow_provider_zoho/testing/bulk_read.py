"""The read side of CRM and Bigin in the emulator: bulk read (export) jobs over the org's records.

``POST /crm/bulk/v8/read`` (Bigin ``POST /bigin/bulk/v2/read``) creates a job of one module's records: the
fields asked for, those matching the criteria, one page of at most 200,000 of them.  The job joins the
emulator's job table, so ``GET …/read/{id}`` (the ``crm_bulk_read`` / ``bigin_bulk_read`` products of
:mod:`~airflow_provider_zoho.testing.dialects`) walks a script; ``GET …/read/{id}/result`` answers a zip of one
CSV once the job is COMPLETED.  The records are a module's:

- the records bulk writes inserted or updated (:class:`~airflow_provider_zoho.testing.crm_account.Account`
  keeps them, with ``Created_Time`` and ``Modified_Time`` stamped);
- records seeded with :meth:`BulkReads.seed_records` (or ``POST /__emulator__/crm_records``): any number of
  synthetic records, generated from their index when read and never stored, ``Modified_Time`` ascending with
  the index.  Seeded records come first (their ids are lower), then the written ones; rows are in id order.

The records a job exports are fixed when it is created (a snapshot); a ``next_page_token`` continues that
snapshot, a ``page`` number takes a fresh one.

Zoho's rules, each with its source:

- https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/create-job.html and crm-oas v8.0 bulk_read
  ``createBulkReadJob``: the body ``{"callback"?: {url, method: "post"}, "query": {"module": {"api_name"},
  "fields"?, "cvid"?, "page"?, "page_token"?, "criteria"?}, "file_type"?: "csv" | "ics"}`` (no other key:
  ``additionalProperties: false``); 201 ``{"data": [{"status": "success", "code": "ADDED_SUCCESSFULLY",
  "message": "Added successfully.", "details": {id, operation, state, created_by, created_time}}], "info": {}}``;
  the 400s bare ``{"code", "details", "message", "status": "error"}`` (crm-oas' form).
- https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/limitations.html: at most 1,000 fields, 25 criteria,
  200 values in a criteria; 200,000 records a page; 10 downloads a minute per org (then 429 TOO_MANY_REQUESTS).
- https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/download-result.html: a zip holding ``{id}.csv``;
  the status' ``download_url`` is a path relative to the API host.
- Bigin: https://www.bigin.com/developer/docs/apis/v2/bulk-read/ (the same API under ``/bigin/bulk/v2``; its
  samples give ``module`` as a plain string and criteria items as ``{api_name, comparator, value}``: both forms
  are taken for Bigin, CRM v8 takes the object forms only).
- Custom views (``cvid``): a test declares them (:meth:`BulkReads.add_custom_view`), each with its own criteria;
  a job exports the view's records that also meet the query's criteria (create-job.html). A view bulk read
  cannot export (the Co-owner, Shared by Me and Shared to Me views, Zoho's "Kaizen #12 - Bulk Read API"
  post, https://help.zoho.com/portal/en/community/topic/kaizen-12-bulk-read-api) is CVID_NOT_SUPPORTED.

*unverified*, each a plausible guess: INVALID_DATA for ``page`` with ``page_token``, an unknown or expired
token (kept 24 hours), a token sent with another module, fields or criteria than its first page's, more than
1,000 fields, a file_type other than csv/ics (ics beside a module other than Events), an unknown key, a ``cvid``
the module has no view of; PAGE_RANGE_EXCEEDED for a page past the last record;
INVALID_REQUEST (HTTP 400) for a result asked for before the job completed; RESOURCE_NOT_FOUND (404) for one past
its retention (24 hours from the create); ``Retry-After`` on the 429; the
modules bulk read refuses (MODULE_NOT_SUPPORTED); the comparators each field type takes, and INVALID_CRITERIA for
one it does not (crm-oas v8.0 lists six comparators, create-job.html fourteen: the emulator takes the fourteen);
the 25 counted as conditions across all groups; text compared without regard to case; the CSV's line ends (a bare
newline); the body a callback gets (what a status GET answers then).
"""

from __future__ import annotations

import array
import asyncio
import bisect
import collections
import contextlib
import csv
import dataclasses
import datetime as dt
import io
import itertools
import json
import math
import os
import secrets
import tempfile
import threading
import time
import zipfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from airflow_provider_zoho.testing.crm_account import PRODUCTS, TIMESTAMPS, Account, Field, Module, iso_time
from airflow_provider_zoho.testing.dialects import (
    BULK_READ_PER_PAGE,
    EMULATED_PRODUCTS,
    Answer,
    EmulatedProduct,
    JobSpec,
    Step,
    emulator_state_key,
)
from airflow_provider_zoho.testing.faults import JOB_FAULT_KINDS, Fault
from airflow_provider_zoho.testing.incoming import access_token
from airflow_provider_zoho.testing.store import JobTable

__all__ = [
    "ADMIN_PATH",
    "READ_APIS",
    "RECORDS_ADMIN_PATH",
    "BulkReads",
    "CreatedRead",
    "Problem",
    "ReadApi",
    "generator",
    "parse_criteria",
    "seed_id_base",
    "synthetic_value",
]

#: Under the emulator's admin prefix (server.ADMIN_PREFIX, not imported: server imports this module).
ADMIN_PATH = "/__emulator__/crm_bulk_read"
RECORDS_ADMIN_PATH = "/__emulator__/crm_records"
DEFAULT_SCRIPT = ("QUEUED", "IN PROGRESS", "COMPLETED")
#: limitations.html: fields per job, conditions and values per criteria, downloads per minute per org.
MAX_FIELDS = 1000
MAX_CRITERIA = 25
MAX_CRITERIA_VALUES = 200
DOWNLOADS_PER_MINUTE = 10
DOWNLOAD_WINDOW_SECONDS = 60.0
#: *unverified*: how long a next_page_token stays valid.
PAGE_TOKEN_TTL = 24 * 3600.0
#: *unverified*: how long a result stays downloadable after the job's create (then RESOURCE_NOT_FOUND, 404).
RESULT_KEPT_SECONDS = 24 * 3600.0
#: *unverified*: modules Zoho's bulk read refuses (create-job.html lists the modules it takes).
MODULES_NOT_SUPPORTED = frozenset({"Emails", "Attachments", "Visits", "Actions_Performed"})
#: limitations.html: subforms, multi-select lookups and file/image uploads cannot be exported (FIELD_NOT_SUPPORTED).
TYPES_NOT_SUPPORTED = frozenset({"subform", "multiselectlookup", "fileupload", "imageupload"})
QUERY_KEYS = frozenset({"module", "fields", "cvid", "page", "page_token", "criteria"})
BODY_KEYS = frozenset({"callback", "query", "file_type"})
FILE_TYPES = ("csv", "ics")
#: Seeded records' ids: ``SEED_ID_BASE + slot * SEED_ID_SPAN + index``, the slot the module's place in the org (so
#: ids are unique in the org), all below the ids ``Account.insert`` gives, so seeded records sort first.
SEED_ID_BASE = 4_140_000_000_000_000_000
SEED_ID_SPAN = 10_000_000_000
OWNER_ID = "111111000000035795"
LOOKUP_ID_BASE = 4_150_866_000_000_000_000
DEFAULT_MODIFIED_FROM = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
CREATED_BY = {"id": OWNER_ID, "name": "Patricia Boyle"}
CHUNK_BYTES = 1024 * 1024
# create-job.html: Zoho POSTs the job's details to its callback URL once it is completed or has failed.
CALLBACK_STATES = frozenset({"COMPLETED", "FAILURE", "FAILED"})
# The only hosts the emulator itself POSTs a callback to: it never reaches out beyond this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CALLBACK_POLL_SECONDS = 0.05
CALLBACK_WAIT_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ReadApi:
    """One product's bulk read endpoints (CRM v8, Bigin v2): the same API under other paths.

    :param kind: the job kind its jobs are registered as.
    :param read_path: the create (``POST``); the status is ``{read_path}/{id}``, the result ``…/{id}/result``.
    :param account: the account's product its modules belong to (``crm``, ``bigin``).
    :param object_forms: only ``module: {"api_name"}`` and criteria ``field: {"api_name"}`` (CRM v8); else the
        plain forms of Bigin's samples too.
    """

    kind: str
    read_path: str
    account: str
    object_forms: bool

    @property
    def product(self) -> EmulatedProduct:
        """The emulated product whose status route serves these jobs."""
        return EMULATED_PRODUCTS[self.kind]


READ_APIS: tuple[ReadApi, ...] = (
    # crm-oas v8.0 createBulkReadJob: query.module is an object with a required api_name.
    ReadApi("crm_bulk_read", "/crm/bulk/v8/read", "crm", object_forms=True),
    # bigin.com/developer/docs/apis/v2/bulk-read/: samples with module as a string (*unverified* which is right).
    ReadApi("bigin_bulk_read", "/bigin/bulk/v2/read", "bigin", object_forms=False),
)


class Problem(ValueError):
    """Zoho's 400 for a create it refuses: code, message and the ``details`` object."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        """Keep the code and details beside the message."""
        super().__init__(message)
        self.code = code
        self.details = details

    def answer(self) -> Answer:
        """Return CRM's bare error body (crm-oas v8.0 createBulkReadJob's 400 form), HTTP 400."""
        return Answer(400, {"code": self.code, "details": self.details, "message": str(self), "status": "error"})


# -- synthetic records ------------------------------------------------------------------------------------
def synthetic_value(one: Field, number: int, modified: float) -> str:
    """Return a seeded record's value for a field, from the record's index (the same index, the same value).

    :param one: the field.
    :param number: the record's index among the module's seeded records.
    :param modified: its ``Modified_Time`` (epoch seconds), which its timestamps and dates follow.
    :return: the value, as the CSV holds it.
    """
    return generator(one)(number, modified)


# A seeded record's value of one field: (its index, its Modified_Time) -> text.
_Synthetic = Callable[[int, float], str]
_GENERATORS: Mapping[str, _Synthetic] = {
    "datetime": lambda _n, modified: iso_time(modified),
    "date": lambda _n, modified: iso_time(modified)[:10],
    "email": lambda n, _m: f"record{n}@example.com",
    "phone": lambda n, _m: f"+1 555 {n % 10_000_000:07d}",
    "website": lambda n, _m: f"https://www.example.com/{n}",
    "picklist": lambda n, _m: f"Option {n % 3 + 1}",
    "multiselectpicklist": lambda n, _m: f"Option {n % 3 + 1};Option {(n + 1) % 3 + 1}",
    **dict.fromkeys(("integer", "bigint"), lambda n, _m: str(n)),
    **dict.fromkeys(("double", "currency", "decimal", "percent"), lambda n, _m: f"{n % 100_000}.{n % 100:02d}"),
    "boolean": lambda n, _m: "true" if n % 2 else "false",
    "ownerlookup": lambda _n, _m: OWNER_ID,
    "lookup": lambda n, _m: str(LOOKUP_ID_BASE + n),
    "autonumber": lambda n, _m: str(n + 1),
}


def generator(one: Field) -> _Synthetic:
    """Return how a field's seeded values are made (text: its label and the index, ``Last Name 17``).

    :param one: the field.
    :return: (index, Modified_Time) -> the value.
    """
    kind = "datetime" if one.api_name in TIMESTAMPS else one.data_type
    if kind in _GENERATORS:
        return _GENERATORS[kind]
    prefix = (one.label or one.api_name).replace("_", " ")
    return lambda n, _m: f"{prefix} {n}"


@dataclass(frozen=True, slots=True)
class _SeedBlock:
    """Seeded records ``first`` to ``first + count - 1`` of a module, ``Modified_Time`` from ``modified_from``."""

    first: int
    count: int
    modified_from: float
    step_seconds: float

    def modified(self, number: int) -> float:
        return self.modified_from + (number - self.first) * self.step_seconds


@dataclass(frozen=True, slots=True)
class _Column:
    """How one exported column is filled, for seeded and for written records."""

    name: str
    synthetic: _Synthetic

    def written(self, record_id: str, record: Mapping[str, str]) -> str:
        return record_id if self.name == "id" else record.get(self.name, "")


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """A module's records as one job (and the pages after it) sees them: seeded blocks, then written records."""

    module: Module
    blocks: tuple[_SeedBlock, ...]
    written: tuple[tuple[str, Mapping[str, str]], ...]  # by id ascending
    id_base: int  # the seeded records' first id

    def block(self, position: int) -> _SeedBlock:
        """Return the seeded block holding a position below :attr:`seeded`."""
        return self.blocks[bisect.bisect_right([block.first for block in self.blocks], position) - 1]

    @property
    def seeded(self) -> int:
        return self.blocks[-1].first + self.blocks[-1].count if self.blocks else 0

    @property
    def total(self) -> int:
        return self.seeded + len(self.written)

    def cells(self, columns: Sequence[_Column], positions: Iterable[int]) -> Iterator[list[str]]:
        """Yield each record's values for the columns, in the order of ``positions`` (ascending)."""
        seeded, firsts = self.seeded, [block.first for block in self.blocks]
        for position in positions:
            if position < seeded:
                modified = self.blocks[bisect.bisect_right(firsts, position) - 1].modified(position)
                yield [column.synthetic(position, modified) for column in columns]
            else:
                record_id, record = self.written[position - seeded]
                yield [column.written(record_id, record) for column in columns]


def seed_id_base(account: Account, product: str, module: str) -> int:
    """Return the id of a module's first seeded record (the next ones follow it, one by one).

    :param account: the org.
    :param product: ``crm`` or ``bigin``.
    :param module: the module's API name.
    :return: the id, as a number.
    """
    names = [m.api_name for m in account.modules(product)]
    slot = PRODUCTS.index(product) * 1000 + (names.index(module) if module in names else len(names))
    return SEED_ID_BASE + slot * SEED_ID_SPAN


def _column(module: Module, account: Account, product: str, name: str, id_base: int) -> _Column:
    """Build a column for ``name``: ``id``, a field of the module, or a lookup's field (``Account_Name.Phone``)."""
    if name == "id":
        return _Column(name, lambda number, _modified: str(id_base + number))
    own = module.field(name)
    if own is None:  # a lookup's field: create-job.html exports lookups' fields with the dot operator
        lookup, _, rest = name.partition(".")
        target = account.module(product, (module.field(lookup) or Field(lookup)).lookup or "")
        own = target.field(rest) if target is not None else None
        assert own is not None  # _fields checked it
    return _Column(name, generator(own))


# -- criteria ---------------------------------------------------------------------------------------------
Predicate = Callable[[Callable[[str], str]], bool]
COMPARATORS = (
    "equal",
    "not_equal",
    "in",
    "not_in",
    "less_than",
    "less_equal",
    "greater_than",
    "greater_equal",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "between",
    "not_between",
)
_TEXT_OPS = ("equal", "not_equal", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with")
_ORDER_OPS = (
    "equal",
    "not_equal",
    "less_than",
    "less_equal",
    "greater_than",
    "greater_equal",
    "between",
    "not_between",
)
# *unverified*: the comparators each data type takes (create-job.html lists them all, not by type).
_SUPPORTED: Mapping[str, tuple[str, ...]] = {
    **dict.fromkeys(("text", "textarea", "email", "phone", "website", "picklist", "autonumber"), _TEXT_OPS),
    "multiselectpicklist": ("equal", "not_equal", "in", "not_in", "contains", "not_contains"),
    **dict.fromkeys(("integer", "bigint", "double", "currency", "decimal", "percent"), (*_ORDER_OPS, "in", "not_in")),
    **dict.fromkeys(("date", "datetime"), _ORDER_OPS),
    "boolean": ("equal", "not_equal"),
    **dict.fromkeys(("lookup", "ownerlookup", "id"), ("equal", "not_equal", "in", "not_in")),
}


def _field_of(module: Module, account: Account, product: str, name: str) -> Field | None:
    """Return the field ``name`` names: ``id`` (as a pseudo-field), a field, or a lookup's field; else None."""
    if name == "id":
        return Field("id", "bigint")
    own = module.field(name)
    if own is not None:
        return own
    lookup, _, rest = name.partition(".")
    pointer = module.field(lookup)
    if not rest or pointer is None or pointer.lookup is None:
        return None
    target = account.module(product, pointer.lookup)
    return target.field(rest) if target is not None else None


def _typed(one: Field, value: Any, comparator: str) -> Any:
    """Convert a criteria value to what records compare against; raise INVALID_CRITERIA for one that is not."""
    bad = Problem(
        "INVALID_CRITERIA",
        f"the value {value!r} does not fit {one.api_name} ({one.data_type}) with {comparator}",
        api_name=one.api_name,
        comparator=comparator,
        value=value,
    )
    if isinstance(value, list | dict) or value is None:
        raise bad
    text = str(value).lower() if isinstance(value, bool) else str(value)
    kind = "bigint" if one.api_name == "id" else one.data_type
    if one.api_name in TIMESTAMPS or kind == "datetime":
        try:  # create-job.html: ISO 8601 date-times with their offset, e.g. 2026-01-01T00:00:00+00:00
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise bad from None
        if moment.tzinfo is None:
            raise bad
        return moment.timestamp()
    if kind == "date":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise bad from None
    if kind in ("integer", "bigint", "double", "currency", "decimal", "percent"):
        try:  # whole numbers exactly (ids have 19 digits, more than a float holds)
            return int(text) if kind in ("integer", "bigint") else float(text)
        except ValueError:
            raise bad from None
    return text.casefold()


def _cell(one: Field, text: str) -> Any:
    """Convert a record's value to the type its criteria values have (None for an empty or unreadable one)."""
    if not text:
        return None
    kind = "bigint" if one.api_name == "id" else one.data_type
    try:
        if one.api_name in TIMESTAMPS or kind == "datetime":
            return dt.datetime.fromisoformat(text).timestamp()
        if kind in ("integer", "bigint"):
            return int(text)
        if kind in ("double", "currency", "decimal", "percent"):
            return float(text)
    except ValueError:
        return None
    return text if kind == "date" else text.casefold()


def _condition(one: Field, name: str, comparator: str, value: Any) -> tuple[Predicate, int]:
    """Compile one condition; return its predicate and how many values it holds."""
    if comparator in ("in", "not_in", "between", "not_between"):
        if not isinstance(value, list) or not value or (comparator.endswith("between") and len(value) != 2):
            raise Problem(
                "INVALID_CRITERIA",
                f"{comparator} takes a list of values" + (" (two)" if comparator.endswith("between") else ""),
                api_name=one.api_name,
                comparator=comparator,
                value=value,
            )
        values = [_typed(one, item, comparator) for item in value]
    else:
        values = [_typed(one, value, comparator)]
    first = values[0]

    def test(get: Callable[[str], str]) -> bool:
        have = _cell(one, get(name))
        if comparator == "not_equal":
            return bool(have != first)
        if comparator == "not_in":
            return bool(have not in values)
        if comparator == "not_contains":
            return not (isinstance(have, str) and first in have)
        if have is None:
            return False
        if comparator == "equal":
            return bool(have == first)
        if comparator == "in":
            return bool(have in values)
        if comparator == "contains":
            return isinstance(have, str) and first in have
        if comparator == "starts_with":
            return isinstance(have, str) and have.startswith(first)
        if comparator == "ends_with":
            return isinstance(have, str) and have.endswith(first)
        if comparator == "between":
            return bool(values[0] <= have <= values[1])
        if comparator == "not_between":
            return not values[0] <= have <= values[1]
        return bool(
            {
                "less_than": have < first,
                "less_equal": have <= first,
                "greater_than": have > first,
                "greater_equal": have >= first,
            }[comparator]
        )

    return test, len(values)


def parse_criteria(
    criteria: Any, resolve: Callable[[str], Field | None], object_forms: bool = True
) -> tuple[Predicate, int, int]:
    """Compile a bulk read's criteria: a group ``{group_operator, group: [...]}`` or one condition.

    A condition is ``{"field": {"api_name"}, "comparator", "value"}`` (Bigin also ``{"api_name", ...}``); a
    group's items are conditions or groups. The comparators are create-job.html's.

    :param criteria: the query's ``criteria``.
    :param resolve: a field's API name -> the field, or None for one the module lacks.
    :param object_forms: refuse the flat ``api_name`` condition (CRM v8).
    :return: the predicate over a record's values (``get(api_name) -> text``), its conditions and values.
    :raises Problem: INVALID_CRITERIA, FIELD_IN_CRITERIA_NOT_AVAILABLE.
    """
    if not isinstance(criteria, dict):
        raise Problem("INVALID_CRITERIA", "criteria must be an object", json_path="$.query.criteria")
    if "group" in criteria or "group_operator" in criteria:
        operator, group = criteria.get("group_operator"), criteria.get("group")
        if operator not in ("and", "or") or not isinstance(group, list) or not group:
            raise Problem(
                "INVALID_CRITERIA",
                "a group needs group_operator and or or, and a non-empty group",
                json_path="$.query.criteria",
            )
        parts = [parse_criteria(item, resolve, object_forms) for item in group]
        tests = [part[0] for part in parts]
        conditions, values = sum(p[1] for p in parts), sum(p[2] for p in parts)
        if operator == "and":
            return (lambda get: all(test(get) for test in tests)), conditions, values
        return (lambda get: any(test(get) for test in tests)), conditions, values
    pointer = criteria.get("field")
    name = pointer.get("api_name") if isinstance(pointer, dict) else None
    if name is None and not object_forms:
        name = criteria.get("api_name")
    comparator = criteria.get("comparator")
    if not isinstance(name, str) or not name or "value" not in criteria:
        raise Problem(
            "INVALID_CRITERIA", "a condition needs field {api_name}, comparator and value", json_path="$.query.criteria"
        )
    one = resolve(name)
    if one is None:
        raise Problem("FIELD_IN_CRITERIA_NOT_AVAILABLE", f"the field {name} is not available", api_name=name)
    supported = _SUPPORTED.get("id" if name == "id" else one.data_type, ())
    if comparator not in COMPARATORS or comparator not in supported:
        # crm-oas v8.0 createBulkReadJob: a comparator a field does not take, with the ones it does.
        raise Problem(
            "INVALID_CRITERIA",
            f"the comparator {comparator!r} is not supported for {name}",
            api_name=name,
            supported=list(supported),
        )
    test, values = _condition(one, name, comparator, criteria["value"])
    return test, 1, values


# -- jobs ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Selection:
    """The records a job (and the pages after it) exports: a snapshot, the columns, the criteria."""

    kind: str
    module: str
    snapshot: _Snapshot
    columns: tuple[_Column, ...]
    predicate: Predicate | None
    #: the fields the criteria name, by the name they use (``Account_Name.Phone`` included).
    criteria_fields: Mapping[str, Field]
    #: the create's fields, criteria and cvid as sent, which a page_token's create must repeat if it sends them.
    sent: Mapping[str, Any]

    def matches(self, position: int) -> bool:
        """Tell whether the record at ``position`` meets the criteria (always, without criteria)."""
        if self.predicate is None:
            return True
        snapshot = self.snapshot
        if position < snapshot.seeded:
            modified = snapshot.block(position).modified(position)
            return self.predicate(lambda name: self._synthetic(name, position, modified))
        record_id, record = snapshot.written[position - snapshot.seeded]
        return self.predicate(lambda name: record_id if name == "id" else record.get(name, ""))

    def _synthetic(self, name: str, number: int, modified: float) -> str:
        if name == "id":
            return str(self.snapshot.id_base + number)
        return synthetic_value(self.criteria_fields[name], number, modified)

    def page(self, start: int, skip: int) -> tuple[Sequence[int], int | None]:
        """Select a page: skip ``skip`` matches from ``start``, take up to 200,000; also where the next starts.

        :param start: the record position to scan from.
        :param skip: matching records to pass over first (a ``page`` number's).
        :return: the positions of the page's records, and the position of the next match (None: no more).
        """
        total = self.snapshot.total
        if self.predicate is None:
            first = min(start + skip, total)
            end = min(first + BULK_READ_PER_PAGE, total)
            return range(first, end), (end if end < total else None)
        taken: array.array[int] = array.array("q")
        position = start
        while position < total and (skip or len(taken) < BULK_READ_PER_PAGE):
            if self.matches(position):
                if skip:
                    skip -= 1
                else:
                    taken.append(position)
            position += 1
        following = next((p for p in range(position, total) if self.matches(p)), None)
        return taken, following


@dataclass(slots=True)
class _Cursor:
    """What a next_page_token continues: the selection, where the next page starts, its number."""

    selection: _Selection
    start: int
    page: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class CreatedRead:
    """A bulk read job as its create made it.

    :param kind: ``crm_bulk_read`` or ``bigin_bulk_read``.
    :param job_id: the id the create answered.
    :param body: the create's JSON body.
    :param page: the page it exports.
    :param count: its records.
    :param more_records: records remain after it.
    :param next_page_token: the token of the next page, when more remain.
    :param selection: the records it exports from, its columns and criteria.
    :param positions: its records' positions in the selection's snapshot, ascending.
    :param created_clock: when it was created, by :attr:`BulkReads.clock` (its result's retention counts from it).
    """

    kind: str
    job_id: str
    body: Mapping[str, Any]
    page: int
    count: int
    more_records: bool
    next_page_token: str | None
    selection: _Selection
    positions: Sequence[int]
    created_clock: float = 0.0

    @property
    def header(self) -> list[str]:
        """The CSV's header: ``id``, then the fields' API names."""
        return [column.name for column in self.selection.columns]

    def rows(self) -> Iterator[list[str]]:
        """Yield the CSV's rows, in id order."""
        return self.selection.snapshot.cells(self.selection.columns, self.positions)


@dataclass(frozen=True, slots=True)
class CustomView:
    """A module's custom view, as a bulk read's ``cvid`` names it.

    :param product: ``crm`` or ``bigin``.
    :param module: the module's API name.
    :param cvid: its id (digits).
    :param criteria: the records it shows, as a bulk read's criteria (None: all of them).
    :param exportable: False for a view bulk read refuses (CVID_NOT_SUPPORTED), such as "Shared to Me".
    """

    product: str
    module: str
    cvid: str
    criteria: Any = None
    exportable: bool = True


@dataclass(frozen=True, slots=True)
class _Seeds:
    """A module's seeded records: blocks of synthetic records, their indexes contiguous."""

    blocks: tuple[_SeedBlock, ...] = ()

    @property
    def count(self) -> int:
        return self.blocks[-1].first + self.blocks[-1].count if self.blocks else 0


def _json(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status,
        body=json.dumps(answer.body).encode(),
        content_type="application/json",
        charset="utf-8",
        headers=dict(answer.headers),
    )


class BulkReads:
    """The bulk read endpoints' state (seeds, jobs, page tokens, the download throttle) and their handlers.

    :param jobs: the emulator's job table, which created jobs join and which checks access tokens.
    :param account: the CRM and Bigin org (``BulkWrites.account``), whose modules and written records are read.
    """

    def __init__(self, jobs: JobTable, account: Account) -> None:
        """Start with no seeds or jobs and the default script (QUEUED, IN PROGRESS, COMPLETED)."""
        self._jobs = jobs
        self.account = account
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        self.script: tuple[Step, ...] = DEFAULT_SCRIPT
        self._next: collections.deque[tuple[Step, ...]] = collections.deque()
        self.created: dict[str, CreatedRead] = {}
        self._seeds: dict[tuple[str, str], _Seeds] = {}
        self._views: dict[tuple[str, str], CustomView] = {}  # (product, cvid) -> view
        self._cursors: dict[str, _Cursor] = {}
        self._downloads: collections.deque[float] = collections.deque()
        self._expired: set[str] = set()
        #: Seconds a result stays downloadable after the create (*unverified*); then RESOURCE_NOT_FOUND.
        self.result_kept_seconds = RESULT_KEPT_SECONDS
        self.downloads = 0  # results served
        self.downloads_refused = 0  # 429s
        #: The clock of the download throttle, of page tokens' and results' expiry (seconds); a test may set its own
        #: (before it creates the jobs it times).
        self.clock: Callable[[], float] = time.monotonic
        #: Seconds a next_page_token stays valid (*unverified*); 0 plays an expired one.
        self.page_token_ttl = PAGE_TOKEN_TTL
        #: what each callback POST the emulator made carried: ``(url, job details body, HTTP status or error)``.
        self.callbacks_sent: list[tuple[str, dict[str, Any], int | str]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()

    # -- scripting and seeding --------------------------------------------------------------------------------
    def set_script(self, script: Sequence[Step | Mapping[str, Any]]) -> None:
        """Set the steps every bulk read created from now on walks through (the last repeats).

        :param script: states as CRM spells them (``QUEUED``, ``IN PROGRESS``, ``COMPLETED``, ``FAILURE``), or job
            faults (``Fault("rate_limited")`` or ``{"fault": "rate_limited"}``), one per status GET.
        :raises ValueError: no step, a state CRM's bulk read does not have, or a fault that is not a job fault.
        """
        self.script = _checked(script)

    def script_next(self, script: Sequence[Step | Mapping[str, Any]]) -> None:
        """Give the next bulk read created (after those already queued) its own steps, e.g. ``["FAILURE"]``.

        :param script: the states (or job faults) its status GETs walk through; the last repeats.
        :raises ValueError: as :meth:`set_script`.
        """
        steps = _checked(script)
        with self.lock:
            self._next.append(steps)

    def expire(self, job_id: str) -> None:
        """Play a job's result running out: its download answers RESOURCE_NOT_FOUND (404) from now on.

        :param job_id: the job's id.
        :raises ValueError: no bulk read of that id was created.
        """
        with self.lock:
            if job_id not in self.created:
                raise ValueError(f"no bulk read job {job_id!r} was created")
            self._expired.add(job_id)

    def reset_downloads(self) -> None:
        """Forget the downloads of the last minute, so the next 10 are served (no waiting out the throttle)."""
        with self.lock:
            self._downloads.clear()

    def seed_records(
        self,
        product: str,
        module: str,
        count: int,
        *,
        modified_from: dt.datetime | str | float = DEFAULT_MODIFIED_FROM,
        step_seconds: float = 60.0,
        replace: bool = False,
    ) -> int:
        """Give a module ``count`` more synthetic records, generated from their index when read (never stored).

        Record ``n`` has id :func:`seed_id_base` ``+ n``, ``Modified_Time`` (and ``Created_Time``)
        ``modified_from + k * step_seconds`` (``k`` its place in this block), and values per the module's fields
        (:func:`synthetic_value`).

        :param product: ``crm`` or ``bigin``.
        :param module: the module's API name.
        :param count: the records to add.
        :param modified_from: the first record's ``Modified_Time``: an aware datetime, ISO 8601 text, or epoch seconds.
        :param step_seconds: the seconds between two records' ``Modified_Time``, >= 0.
        :param replace: drop the module's seeded records first.
        :return: the module's seeded records afterwards.
        :raises ValueError: an unknown product or module, a negative count or step, an unreadable time.
        """
        if product not in PRODUCTS or self.account.module(product, module) is None:
            raise ValueError(f"the {product!r} org has no module {module!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a whole number >= 0, got {count!r}")
        if self._seeds.get((product, module), _Seeds()).count * (not replace) + count >= SEED_ID_SPAN:
            raise ValueError(f"a module holds fewer than {SEED_ID_SPAN:,} seeded records")
        if isinstance(step_seconds, bool) or not isinstance(step_seconds, int | float) or not step_seconds >= 0:
            raise ValueError(f"step_seconds must be a number >= 0, got {step_seconds!r}")
        start = _epoch(modified_from)
        with self.lock:
            seeds = _Seeds() if replace else self._seeds.get((product, module), _Seeds())
            if count:
                seeds = _Seeds((*seeds.blocks, _SeedBlock(seeds.count, count, start, float(step_seconds))))
            self._seeds[(product, module)] = seeds
            return seeds.count

    def add_custom_view(
        self, product: str, module: str, cvid: str, *, criteria: Any = None, exportable: bool = True
    ) -> CustomView:
        """Declare (or replace) a module's custom view, which a bulk read's ``query.cvid`` may name.

        :param product: ``crm`` or ``bigin``.
        :param module: the module's API name.
        :param cvid: the view's id, digits.
        :param criteria: the records it shows, in a bulk read's criteria form (None: all of the module's).
        :param exportable: False plays a view bulk read refuses with CVID_NOT_SUPPORTED ("Shared to Me"...).
        :return: the view.
        :raises ValueError: an unknown product or module, a cvid that is not digits, criteria that do not compile.
        """
        found = self.account.module(product, module) if product in PRODUCTS else None
        if found is None:
            raise ValueError(f"the {product!r} org has no module {module!r}")
        if not isinstance(cvid, str) or not cvid.isdigit():
            raise ValueError(f"cvid must be a string of digits, got {cvid!r}")
        if criteria is not None:
            try:
                parse_criteria(criteria, lambda name: _field_of(found, self.account, product, name), False)
            except Problem as problem:
                raise ValueError(f"the view's criteria: {problem.code}: {problem}") from None
        view = CustomView(product, module, cvid, criteria, bool(exportable))
        with self.lock:
            self._views[(product, cvid)] = view
        return view

    def stats(self) -> dict[str, Any]:
        """Return the bulk read counters: jobs created, results served, downloads refused with 429.

        :return: ``{"created", "downloads", "downloads_refused", "downloads_last_minute"}``.
        """
        with self.lock:
            self._expire_downloads(self.clock())
            return {
                "created": len(self.created),
                "downloads": self.downloads,
                "downloads_refused": self.downloads_refused,
                "downloads_last_minute": len(self._downloads),
            }

    def apply_admin(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Apply ``POST /__emulator__/crm_bulk_read``'s body and answer the counters.

        ``{"script"?: [...], "once"?: true, "reset_downloads"?: true, "page_token_ttl"?: seconds, "custom_views"?:
        [{"product"?: "crm", "module", "cvid", "criteria"?, "exportable"?}]}``: the states of every read from now
        on, or (``once``) of the next one only; forget the last minute's downloads; how long page tokens stay
        valid; declare custom views (:meth:`add_custom_view`); ``"expire": "<job id>"`` plays its result running out.

        :param payload: the decoded JSON object.
        :return: :meth:`stats`.
        :raises ValueError: an unknown key or a bad state.
        """
        known = {"script", "once", "reset_downloads", "page_token_ttl", "custom_views", "expire"}
        if unknown := set(payload) - known:
            raise ValueError(f"crm bulk read admin takes {sorted(known)}; not {sorted(unknown)}")
        for view in payload.get("custom_views") or ():
            if not isinstance(view, dict) or set(view) - {"product", "module", "cvid", "criteria", "exportable"}:
                raise ValueError(f"a custom view is {{product?, module, cvid, criteria?, exportable?}}, got {view!r}")
            self.add_custom_view(
                str(view.get("product", "crm")),
                str(view["module"]),
                view["cvid"],
                criteria=view.get("criteria"),
                exportable=view.get("exportable", True),
            )
        if payload.get("script") is not None:
            if payload.get("once"):
                self.script_next(payload["script"])
            else:
                self.set_script(payload["script"])
        if payload.get("page_token_ttl") is not None:
            self.page_token_ttl = float(payload["page_token_ttl"])
        if payload.get("reset_downloads"):
            self.reset_downloads()
        if payload.get("expire") is not None:
            self.expire(str(payload["expire"]))
        return self.stats()

    def seed_from_json(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Apply ``POST /__emulator__/crm_records``'s body (:meth:`seed_records`' arguments as an object).

        ``{"product"?: "crm", "module": "Contacts", "count": 500000, "modified_from"?: "2026-01-01T00:00:00+00:00",
        "step_seconds"?: 60, "replace"?: false}``.

        :param payload: the decoded JSON object.
        :return: ``{"record_count": N}``, the module's seeded records.
        :raises ValueError: an unknown key, or what :meth:`seed_records` refuses.
        """
        known = {"product", "module", "count", "modified_from", "step_seconds", "replace"}
        if unknown := set(payload) - known:
            raise ValueError(f"crm records take {sorted(known)}; not {sorted(unknown)}")
        total = self.seed_records(
            str(payload.get("product", "crm")),
            str(payload["module"]),
            payload.get("count", 0),
            modified_from=payload.get("modified_from", DEFAULT_MODIFIED_FROM),
            step_seconds=payload.get("step_seconds", 60.0),
            replace=bool(payload.get("replace")),
        )
        return {"record_count": total}

    # -- routes -----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Route the creates, the result downloads and the admin POSTs (the status GETs are the server's).

        :param app: the emulator's application.
        """
        for api in READ_APIS:
            app.router.add_post(api.read_path, self._bind(self.create, api))
            app.router.add_get(api.read_path + "/{job_id}/result", self._bind(self.download, api))
        app.router.add_post(ADMIN_PATH, self._admin(self.apply_admin))
        app.router.add_post(RECORDS_ADMIN_PATH, self._admin(self.seed_from_json))

    def _bind(
        self, handler: Callable[[ReadApi, web.Request], Awaitable[web.StreamResponse]], api: ReadApi
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def bound(request: web.Request) -> web.StreamResponse:
            if not self._jobs.token_valid(access_token(request)):
                return _json(api.product.invalid_token())
            return await handler(api, request)

        return bound

    @staticmethod
    def _admin(
        apply: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            try:
                payload = await request.json()
                if not isinstance(payload, dict):
                    raise ValueError("expected a JSON object")
                result = apply(payload)
            except (ValueError, TypeError, KeyError) as exc:
                return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
            return web.json_response({"ok": True, **result})

        return serve

    # -- create -----------------------------------------------------------------------------------------------
    async def create(self, api: ReadApi, request: web.Request) -> web.StreamResponse:
        """Serve a bulk read create: check the body as Zoho does, select the page's records, register the job.

        :param api: the product's endpoints.
        :param request: the JSON POST.
        :return: 201 ``ADDED_SUCCESSFULLY`` with the job's id, or Zoho's 400 for what is wrong.
        """
        # crm-oas v8.0 createBulkReadJob: the body is application/json; JSON under another type (text/plain...) is
        # REQUEST_BODY_NOT_SUPPORTED, as bulk write's create answers it.
        if request.content_type != "application/json":
            return _json(
                Problem("REQUEST_BODY_NOT_SUPPORTED", "the request body must be sent as application/json").answer()
            )
        try:
            body = await request.json()
        except ValueError:
            return _json(api.product.error("INVALID_REQUEST", 400, message="the body is not JSON"))
        try:
            selection, start, skip, page = self._plan(api, body)
            positions, following = await asyncio.get_running_loop().run_in_executor(None, selection.page, start, skip)
            if page > 1 and not positions:
                # *unverified*: a page whose first record is past the last matching one.
                raise Problem(
                    "PAGE_RANGE_EXCEEDED", f"page {page} is past the records matching", json_path="$.query.page"
                )
        except Problem as problem:
            return _json(problem.answer())
        token = None
        if following is not None:
            token = secrets.token_hex(48)  # an opaque string, as the get-job-details.html sample's
            cursor = _Cursor(selection, following, page + 1, self.clock() + self.page_token_ttl)
        job_id = str(4_150_868_000_004_717_000 + next(self._ids))
        created = CreatedRead(
            api.kind, job_id, body, page, len(positions), token is not None, token, selection, positions, self.clock()
        )
        details: dict[str, Any] = {
            "query": body["query"],
            "file_type": body.get("file_type", "csv"),
            "page": page,
            "more_records": created.more_records,
        }
        if token is not None:
            details["next_page_token"] = token
        if body.get("callback") is not None:
            details["callback"] = {"url": body["callback"]["url"], "method": body["callback"]["method"]}
        with self.lock:
            script = self._next.popleft() if self._next else self.script
            self.created[job_id] = created
            if token is not None:
                self._cursors[token] = cursor
        created_at = time.time()
        spec = JobSpec(api.kind, job_id, script, {}, {"count": created.count}, None, None, created_at, details)
        self._jobs.add_job(spec, api.product)
        if "callback" in details and _loopback(details["callback"]["url"]):
            task = asyncio.get_running_loop().create_task(self._call_back(api, spec, details["callback"]["url"]))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)
        answer = {
            "status": "success",
            "code": "ADDED_SUCCESSFULLY",
            "message": "Added successfully.",
            "details": {
                "id": job_id,
                "operation": "read",
                "state": "ADDED",
                "created_by": dict(CREATED_BY),
                "created_time": iso_time(created_at),
            },
        }
        return web.json_response({"data": [answer], "info": {}}, status=201)

    def _plan(self, api: ReadApi, body: Any) -> tuple[_Selection, int, int, int]:
        """Check a create's body; return the selection, where to scan from, matches to skip, and the page number."""
        if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
            # crm-oas v8.0 createBulkReadJob: query is required, an object.
            raise Problem("MISSING_REQUIRED_KEY", "query is required", json_path="$.query")
        if unknown := sorted(set(body) - BODY_KEYS):
            raise Problem("INVALID_DATA", f"unknown key {unknown[0]}", json_path=f"$.{unknown[0]}")
        if body.get("callback") is not None:
            _check_callback(body["callback"])
        query = body["query"]
        if unknown := sorted(set(query) - QUERY_KEYS):
            raise Problem("INVALID_DATA", f"unknown key {unknown[0]}", json_path=f"$.query.{unknown[0]}")
        module = self._module(api, query)
        file_type = body.get("file_type", "csv")
        if file_type not in FILE_TYPES or (file_type == "ics" and module.api_name != "Events"):
            # crm-oas v8.0: file_type enum csv, ics; ics only for the Events module (code *unverified*).
            raise Problem("INVALID_DATA", "file_type must be csv (ics for Events)", json_path="$.file_type")
        view = self._view(api, module, query.get("cvid"))
        page, token = query.get("page"), query.get("page_token")
        if page is not None and token is not None:
            raise Problem("INVALID_DATA", "give page or page_token, not both", json_path="$.query.page_token")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise Problem("INVALID_DATA", "page must be a whole number >= 1", json_path="$.query.page")
        if token is not None:
            return self._continue(api, module, query, token)
        columns = self._columns(api, module, query.get("fields"))
        predicate, named = None, dict[str, Field]()
        if query.get("criteria") is not None:
            predicate = self._criteria(api, module, query["criteria"], named)
        if view is not None and view.criteria is not None:  # the view's records that meet the criteria too
            shown = self._criteria(api, module, view.criteria, named, limited=False)
            predicate = shown if predicate is None else _both(shown, predicate)
        snapshot = self._snapshot(api, module)
        sent = {key: query.get(key) for key in ("fields", "criteria", "cvid")}
        selection = _Selection(api.kind, module.api_name, snapshot, columns, predicate, named, sent)
        number = page or 1
        return selection, 0, (number - 1) * BULK_READ_PER_PAGE, number

    def _continue(
        self, api: ReadApi, module: Module, query: Mapping[str, Any], token: Any
    ) -> tuple[_Selection, int, int, int]:
        """Continue a page token's selection (create-job.html: the next page is a create with query.page_token)."""
        with self.lock:
            cursor = self._cursors.get(token) if isinstance(token, str) else None
            if cursor is not None and cursor.expires_at <= self.clock():
                del self._cursors[token]
                cursor = None
        if cursor is None or cursor.selection.kind != api.kind:
            raise Problem("INVALID_DATA", "the page_token is invalid or has expired", json_path="$.query.page_token")
        selection = cursor.selection
        same = selection.module == module.api_name and all(
            query.get(key) is None or query.get(key) == sent for key, sent in selection.sent.items()
        )
        if not same:
            raise Problem(
                "INVALID_DATA",
                "a page_token continues its first page's module, fields and criteria",
                json_path="$.query.page_token",
            )
        return selection, cursor.start, 0, cursor.page

    def _module(self, api: ReadApi, query: Mapping[str, Any]) -> Module:
        given = query.get("module")
        if given is None:
            raise Problem("MISSING_REQUIRED_KEY", "module is required", json_path="$.query.module")
        if api.object_forms and not isinstance(given, dict):
            # crm-oas v8.0: query.module is an object {api_name}; a plain string is a value of the wrong type.
            raise Problem("INVALID_DATA", "module must be an object {api_name}", json_path="$.query.module")
        name = given.get("api_name") if isinstance(given, dict) else given
        if not isinstance(name, str) or not name:
            raise Problem("MISSING_REQUIRED_KEY", "module needs api_name", json_path="$.query.module.api_name")
        if name in MODULES_NOT_SUPPORTED:
            raise Problem("MODULE_NOT_SUPPORTED", f"the module {name} is not supported for bulk read", api_name=name)
        module = self.account.module(api.account, name)
        if module is None:
            raise Problem("MODULE_NOT_AVAILABLE", f"the module {name} is not available", api_name=name)
        return module

    def _columns(self, api: ReadApi, module: Module, fields: Any) -> tuple[_Column, ...]:
        """Return the CSV's columns: ``id`` first, then the fields asked for (all the module's when none are)."""
        if fields is None or fields == []:
            names = [f.api_name for f in module.fields if f.data_type not in TYPES_NOT_SUPPORTED]
        else:
            if not isinstance(fields, list) or not all(isinstance(name, str) and name for name in fields):
                raise Problem("INVALID_DATA", "fields must be a list of field API names", json_path="$.query.fields")
            if len(fields) > MAX_FIELDS:
                raise Problem(
                    "INVALID_DATA", f"a bulk read takes at most {MAX_FIELDS} fields", json_path="$.query.fields"
                )
            names = []
            for name in fields:
                one = _field_of(module, self.account, api.account, name)
                if one is None:
                    # create-job.html: FIELD_NOT_AVAILABLE, a field the module lacks, named in details.api_name.
                    raise Problem("FIELD_NOT_AVAILABLE", f"the field {name} is not available", api_name=name)
                if one.data_type in TYPES_NOT_SUPPORTED:
                    raise Problem("FIELD_NOT_SUPPORTED", f"the field {name} cannot be exported", api_name=name)
                names.append(name)
        ordered = dict.fromkeys(name for name in ["id", *names])
        base = seed_id_base(self.account, api.account, module.api_name)
        return tuple(_column(module, self.account, api.account, name, base) for name in ordered)

    def _view(self, api: ReadApi, module: Module, cvid: Any) -> CustomView | None:
        """Return the custom view a query's ``cvid`` names (None without one), or refuse it."""
        if cvid is None:
            return None
        with self.lock:
            view = self._views.get((api.account, cvid)) if isinstance(cvid, str) else None
        if view is None or view.module != module.api_name:
            # *unverified*: a cvid that is no view of the module.
            raise Problem(
                "INVALID_DATA", f"{cvid!r} is not a custom view of {module.api_name}", json_path="$.query.cvid"
            )
        if not view.exportable:
            raise Problem(
                "CVID_NOT_SUPPORTED", "the custom view cannot be exported by a bulk read", json_path="$.query.cvid"
            )
        return view

    def _criteria(
        self, api: ReadApi, module: Module, criteria: Any, named: dict[str, Field], *, limited: bool = True
    ) -> Predicate:
        """Compile the criteria, noting in ``named`` each field they name; refuse them past Zoho's limits."""

        def resolve(name: str) -> Field | None:
            found = _field_of(module, self.account, api.account, name)
            if found is not None:
                named[name] = found
            return found

        predicate, conditions, values = parse_criteria(criteria, resolve, api.object_forms and limited)
        if not limited:
            return predicate
        if conditions > MAX_CRITERIA:
            raise Problem("CRITERIA_LIMIT_EXCEEDED", f"at most {MAX_CRITERIA} criteria", json_path="$.query.criteria")
        if values > MAX_CRITERIA_VALUES:
            raise Problem(
                "VALUE_LIMIT_EXCEEDED_IN_CRITERIA",
                f"at most {MAX_CRITERIA_VALUES} values in a criteria",
                json_path="$.query.criteria",
            )
        return predicate

    def _snapshot(self, api: ReadApi, module: Module) -> _Snapshot:
        with self.lock:
            seeds = self._seeds.get((api.account, module.api_name), _Seeds())
        written = sorted(self.account.records(api.account, module.api_name).items(), key=lambda item: int(item[0]))
        return _Snapshot(module, seeds.blocks, tuple(written), seed_id_base(self.account, api.account, module.api_name))

    async def _call_back(self, api: ReadApi, spec: JobSpec, url: str) -> None:
        """POST the job's details to its loopback callback URL once its status GETs reach COMPLETED or FAILURE.

        Zoho calls the callback when the job completes or fails (create-job.html); the body's shape is
        *unverified*: the emulator sends what a status GET answers then. Jobs move as their status GETs walk the
        script, so the POST follows the GET that reports the end (or comes at once for a script starting there).
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

    # -- download ---------------------------------------------------------------------------------------------
    def _expire_downloads(self, now: float) -> None:
        while self._downloads and now - self._downloads[0] >= DOWNLOAD_WINDOW_SECONDS:
            self._downloads.popleft()

    async def download(self, api: ReadApi, request: web.Request) -> web.StreamResponse:
        """Serve a completed job's result: a zip holding ``{id}.csv``, streamed from a temporary file.

        :param api: the product's endpoints.
        :param request: the GET of the status' ``download_url``.
        :return: the zip (``Content-Disposition: attachment; filename={id}.zip``); RESOURCE_NOT_FOUND (404) for a job
            this product did not create or whose result is past its retention or expired; INVALID_REQUEST (400, *unverified*) before it completed; TOO_MANY_REQUESTS
            (429) past 10 downloads a minute (limitations.html).
        """
        job_id = request.match_info["job_id"]
        with self.lock:
            created = self.created.get(job_id)
        now = self.clock()
        with self.lock:
            gone = job_id in self._expired
        if (
            created is None
            or created.kind != api.kind
            or gone
            or now - created.created_clock >= self.result_kept_seconds
        ):
            return _json(api.product.error("RESOURCE_NOT_FOUND"))
        with self.lock:
            self._expire_downloads(now)
            if len(self._downloads) >= DOWNLOADS_PER_MINUTE:
                self.downloads_refused += 1
                wait = max(1, math.ceil(DOWNLOAD_WINDOW_SECONDS - (now - self._downloads[0])))
                return _json(api.product.rate_limited(wait))
        state = self._jobs.job_state(api.kind, job_id) or ""
        if emulator_state_key(state) != "COMPLETED":
            return _json(
                api.product.error("INVALID_REQUEST", 400, message="the job has not completed: no result to download")
            )
        with self.lock:
            self._downloads.append(now)
            self.downloads += 1
        loop = asyncio.get_running_loop()
        handle, path = tempfile.mkstemp(prefix=f"zoho-bulk-read-{job_id}-", suffix=".zip")
        os.close(handle)
        try:
            await loop.run_in_executor(None, _write_zip, created, path)
            response = web.StreamResponse(
                headers={"Content-Type": "application/zip", "Content-Disposition": f"attachment; filename={job_id}.zip"}
            )
            response.content_length = await loop.run_in_executor(None, os.path.getsize, path)
            await response.prepare(request)
            source = await loop.run_in_executor(None, _open_binary, path)
            try:
                while chunk := await loop.run_in_executor(None, source.read, CHUNK_BYTES):
                    await response.write(chunk)
            finally:
                source.close()
            await response.write_eof()
            return response
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _write_zip(created: CreatedRead, path: str) -> None:
    """Write the job's CSV into a zip at ``path``, row by row (never the whole CSV in memory)."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(f"{created.job_id}.csv", "w", force_zip64=True) as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(created.header)
        writer.writerows(created.rows())


def _open_binary(path: str) -> BinaryIO:
    """Open a file for reading bytes (in an executor: the event loop never blocks on the disk)."""
    return open(path, "rb")


def _check_callback(callback: Any) -> None:
    """Refuse a callback Zoho refuses (crm-oas v8.0 createBulkReadJob: ``{url (uri), method: enum post}``)."""
    path = "$.callback"
    if not isinstance(callback, dict):
        raise Problem("INVALID_DATA", "callback must be an object {url, method}", json_path=path)
    for key in ("url", "method"):
        if key not in callback:
            raise Problem("MISSING_REQUIRED_KEY", f"callback needs {key}", json_path=f"{path}.{key}")
    url = callback["url"]
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        # create-job.html: INVALID_CALLBACK_URL, "the callback URL is invalid".
        raise Problem("INVALID_CALLBACK_URL", "Invalid callback URL provided", json_path=f"{path}.url")
    if callback["method"] != "post":
        # create-job.html: INVALID_CALLBACK_METHOD, the method must be post.
        raise Problem("INVALID_CALLBACK_METHOD", "callback method must be post", json_path=f"{path}.method")


def _both(first: Predicate, second: Predicate) -> Predicate:
    """Return a predicate met where both are."""
    return lambda get: first(get) and second(get)


def _loopback(url: str) -> bool:
    """Tell whether a callback URL points at this machine, the only place the emulator POSTs to."""
    with contextlib.suppress(ValueError):
        return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
    return False


def _checked(script: Sequence[Step | Mapping[str, Any]]) -> tuple[Step, ...]:
    """Check a script: states CRM's bulk read has, or job faults (a :class:`Fault` or its dict form)."""
    if isinstance(script, str | bytes) or not script:
        raise ValueError("a bulk read script needs at least one step")
    steps: list[Step] = []
    for step in script:
        if isinstance(step, str):
            EMULATED_PRODUCTS["crm_bulk_read"].canonical_state(step)
            steps.append(step)
            continue
        fault = step if isinstance(step, Fault) else Fault.from_dict(step)
        if fault.kind not in JOB_FAULT_KINDS:
            raise ValueError(f"{fault.kind!r} is not a job fault; expected one of {sorted(JOB_FAULT_KINDS)}")
        if fault.code is not None and fault.kind in ("error", "echo"):
            fault = dataclasses.replace(fault, code=EMULATED_PRODUCTS["crm_bulk_read"].coerce_code(fault.code))
        steps.append(fault)
    return tuple(steps)


def _epoch(value: dt.datetime | str | float) -> float:
    """Read a moment: an aware datetime, ISO 8601 text with its offset, or epoch seconds."""
    if isinstance(value, bool):
        raise ValueError(f"modified_from must be a datetime, ISO 8601 text or epoch seconds, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, dt.datetime) or moment.tzinfo is None:
        raise ValueError(f"modified_from must carry its offset (2026-01-01T00:00:00+00:00), got {value!r}")
    return moment.timestamp()
