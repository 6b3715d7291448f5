"""Reading a job's result zip: which records did not land, and why, streamed row by row, every cost bounded.

Zoho's CRM/Bigin result CSV holds the first three mapped input columns, then ``STATUS`` (added, updated,
skipped, unprocessed), ``RECORD_ID`` and ``ERRORS`` (``<CODE>-<column>``, several joined with ``:``). Rows
are assumed to come in input order, which is how a result row is traced back to its input line
(*unverified*: Zoho documents no row number). Creator's failure file holds the input columns and a reason.

A result comes from an answer, so it is read as untrusted: the archive's members and what its CSV inflates
to, each row's width and each field's length are bounded, and a result holding more rows than its job had
records is refused. What is kept for the summary (XCom) and logged is cut short.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from airflow_provider_zoho.compat import AirflowException
from airflow_provider_zoho.exceptions import bounded
from airflow_provider_zoho.jobs import JobKind
from airflow_provider_zoho.operators.csv_parts import MAX_COLUMNS, CsvProblem, CsvRows, as_text

RESULT_COLUMNS = ("STATUS", "RECORD_ID", "ERRORS")
NOT_LANDED = frozenset({"skipped", "unprocessed"})
KEPT_FAILED_ROWS = 100  # in the summary (XCom)
LOGGED_FAILED_ROWS = 20
# A kept or logged record is cut: each value to this many characters, and the whole record to about this
# many (100 kept records then stay far under XCom's 1 MB, and a log line far under 64 KB).
KEPT_CELL_CHARS = 500
KEPT_RECORD_CHARS = 4000
# Distinct error codes counted by name; the rest are summed under OTHER_CODES (a result of millions of
# distinct codes otherwise made one log line of tens of megabytes). A code is cut like Zoho's error codes in
# messages.
MAX_ERROR_CODES = 100
MAX_ERROR_CODE_CHARS = 100
OTHER_CODES = "(other codes)"
# Zoho's result zip holds one CSV; a zip of thousands of members costs memory in its directory alone
# (hundreds of thousands of empty members: hundreds of megabytes), so members are counted from their
# signatures before the zip is opened.
MAX_RESULT_MEMBERS = 16
# What the result CSV may inflate to: a part of 25,000 records with a few columns each is far below it; a
# 245 KB zip inflating to gigabytes is refused before one row is read.
MAX_RESULT_INFLATED_BYTES = 256 * 1024 * 1024
# An input has at most 200 columns (MAX_COLUMNS); a result adds its own few.
MAX_RESULT_COLUMNS = MAX_COLUMNS + 56
# The rows a result may hold when the job's status gave no total: no job of any kind has more records.
MAX_RESULT_ROWS = 1_000_000
# Zoho's status answer of one job, as the summary keeps it; past either bound it is replaced by a note (a
# 10 MB answer, or 5 MB of Analytics importErrors, would otherwise go to XCom whole).
SUMMARY_RESPONSE_CHARS = 8 * 1024
SUMMARY_RESPONSES_CHARS = 256 * 1024
_CENTRAL_DIRECTORY_SIGNATURE = b"PK\x01\x02"


class ResultProblem(ValueError):
    """A result file that is not what Zoho sends: not a zip, too big inflated, too wide, more rows than its job."""


def error_codes(errors: str) -> list[str]:
    """Split a result's ``ERRORS`` cell into its codes, dropping the columns they name.

    :param errors: for example ``"MANDATORY_NOT_FOUND-Last_Name:DUPLICATE_DATA-Email"``.
    :return: for that example ``["MANDATORY_NOT_FOUND", "DUPLICATE_DATA"]``.
    """
    return [item.split("-", 1)[0].strip() for item in errors.split(":") if item.strip()]


def compact(record: Mapping[str, Any]) -> dict[str, Any]:
    """Cut ``record`` down to what the summary keeps and the log shows: each value and the whole record.

    :param record: a failed row, whole.
    :return: a copy with names and values cut to ``KEPT_CELL_CHARS`` and columns past about
        ``KEPT_RECORD_CHARS`` replaced by a note of how many were cut.
    """
    kept: dict[str, Any] = {}
    size = 0
    for number, (name, value) in enumerate(record.items()):
        if size > KEPT_RECORD_CHARS:
            kept["..."] = f"{len(record) - number} more column(s) cut"
            break
        kept[bounded(name, KEPT_CELL_CHARS)] = bounded(value, KEPT_CELL_CHARS) if isinstance(value, str) else value
        size += len(name) + len(str(value))
    return kept


def failed_record(row: int | None, status: str, errors: str, columns: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Build a failed row: the operator's ``row``, ``status`` and ``errors``, then the result's other columns.

    A column that has the name of one of the operator's fields, or of an earlier column, is kept as
    ``"<name> (2)"`` (then 3...): it never overwrites them.

    :param row: the input line the record came from, or None when it cannot be traced.
    :param status: why it did not land: CRM/Bigin's ``skipped`` or ``unprocessed``, ``failed`` for Creator.
    :param errors: the result's errors for it (CRM/Bigin: ``<CODE>-<column>`` joined with ``:``; Creator's reason).
    :param columns: the result's other ``(column, value)`` pairs, in order; unnamed columns are dropped.
    :return: the record, whole (``compact`` cuts it for the summary).
    """
    record: dict[str, Any] = {"row": row, "status": status, "errors": errors}
    for name, value in columns:
        if not name:
            continue
        key, number = name, 1
        while key in record:
            number += 1
            key = f"{name} ({number})"
        record[key] = value
    return record


@dataclass
class FailedRows:
    """Failed rows gathered across a task's jobs, bounded for the summary.

    Kept: the first ``KEPT_FAILED_ROWS`` rows (compacted), the count of all of them, and the error codes in
    the order met (at most ``MAX_ERROR_CODES`` by name, the rest under ``OTHER_CODES``).
    """

    kept: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    def add(self, record: Mapping[str, Any]) -> None:
        """Count one failed row and its error codes, and keep it compacted while there is room.

        :param record: the row, as ``failed_record`` builds it (its codes are read from ``errors``).
        """
        self.total += 1
        for code in error_codes(str(record.get("errors") or "")):
            code = bounded(code, MAX_ERROR_CODE_CHARS)
            if code not in self.codes and len(self.codes) >= MAX_ERROR_CODES:
                code = OTHER_CODES
            self.codes[code] = self.codes.get(code, 0) + 1
        if len(self.kept) < KEPT_FAILED_ROWS:
            self.kept.append(compact(record))


def result_row_limit(kind: JobKind, counts: Mapping[str, int]) -> int:
    """Return the most rows a job's result may hold: the job's own total, or ``MAX_RESULT_ROWS`` without one.

    :param kind: the job's kind, which names the count that holds its total.
    :param counts: the job's counts from its last status.
    :return: the bound ``result_rows`` enforces.
    """
    total = counts.get(kind.total_count) if kind.total_count else None
    return MAX_RESULT_ROWS if total is None else max(0, total)


def unreadable_result(what: str, job: Mapping[str, Any], problem: Exception, threshold: int | None) -> AirflowException:
    """Build the task's error for a result that cannot be read: what is wrong, the job's counts and threshold.

    :param what: the task and job, as the message starts (``"load: Zoho CRM bulk write job 1"``).
    :param job: the job's summary (its ``counts``).
    :param problem: what the reading raised.
    :param threshold: the operator's ``max_failed_records``.
    :return: the exception to raise; a retry of the task downloads the result again.
    """
    return AirflowException(
        f"{what}: INVALID_RESPONSE: its result cannot be read: {problem}. The job's counts: "
        f"{job.get('counts') or 'none given'}; max_failed_records={threshold}; a retry downloads it again"
    )


@contextlib.contextmanager
def _result_csv(path: Path) -> Iterator[IO[bytes]]:
    """Open the result zip's first CSV member, once its members and inflated size are checked."""
    with path.open("rb") as handle:
        members, tail = 0, b""
        while chunk := handle.read(1024 * 1024):
            members += (tail + chunk).count(_CENTRAL_DIRECTORY_SIGNATURE)
            tail = chunk[-(len(_CENTRAL_DIRECTORY_SIGNATURE) - 1) :]
    if members > MAX_RESULT_MEMBERS:
        raise ResultProblem(f"the zip holds {members:,} or more members, more than {MAX_RESULT_MEMBERS}")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ResultProblem(f"it is not a zip ({error})") from None
    with archive:
        names = [info for info in archive.infolist() if info.filename.lower().endswith(".csv")]
        if not names:
            held = [bounded(name, 100) for name in archive.namelist()[:5]]
            raise ResultProblem(f"the zip holds no CSV file (it holds {held})")
        if names[0].file_size > MAX_RESULT_INFLATED_BYTES:
            raise ResultProblem(
                f"its CSV inflates to {names[0].file_size:,} bytes, more than {MAX_RESULT_INFLATED_BYTES:,}"
            )
        # zipfile stops at the size the member declares (and checks its CRC): the check above bounds the read.
        with archive.open(names[0]) as member:
            yield member


def result_rows(path: Path, max_rows: int) -> Iterator[tuple[int, list[tuple[str, str]]]]:
    """Yield each row of a result zip's CSV, numbered from 0, as its ``(column, value)`` pairs.

    :param path: the downloaded zip.
    :param max_rows: the job's own record count (``result_row_limit``).
    :return: an iterator of ``(offset, pairs)``.
    :raises ResultProblem: for a result that is not a bounded CSV of at most ``max_rows`` rows.
    """
    with _result_csv(path) as member, as_text(member) as text:
        try:
            rows = CsvRows(text, max_columns=MAX_RESULT_COLUMNS, delimiter=",")
            for offset, row in enumerate(rows):
                if offset >= max_rows:
                    raise ResultProblem(f"it holds more than {max_rows:,} rows, the number of records of its job")
                yield offset, list(zip(rows.header, row, strict=False))
        except CsvProblem as problem:
            raise ResultProblem(f"its CSV, {problem}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
            raise ResultProblem(f"its CSV cannot be inflated ({error})") from None


def read_result_zip(
    path: Path, first_row: int, max_rows: int, failed: FailedRows, on_failed: Callable[[dict[str, Any]], None]
) -> None:
    """Feed every record of a CRM/Bigin result that did not land to ``failed`` and ``on_failed``, streaming.

    :param path: the downloaded zip.
    :param first_row: the input line of the part's first record.
    :param max_rows: the job's own record count (``result_row_limit``).
    :param failed: gathers the failed rows.
    :param on_failed: called with each failed row whole (``failed`` keeps them compacted).
    """
    for offset, columns in result_rows(path, max_rows):
        values = dict(columns)
        status = (values.get("STATUS") or "").strip().lower()
        if status not in NOT_LANDED:
            continue
        others = [(name, value) for name, value in columns if name not in RESULT_COLUMNS]
        record = failed_record(first_row + offset, status, values.get("ERRORS") or "", others)
        failed.add(record)
        on_failed(record)


def summary_jobs(jobs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """List the jobs as the summary shows them: each job's Zoho answer kept while it and all so far stay small.

    :param jobs: the jobs' summaries (``JobStatus.summary``).
    :return: copies of them, each ``response`` past ``SUMMARY_RESPONSE_CHARS`` (or the total's
        ``SUMMARY_RESPONSES_CHARS``) replaced by a note of its size.
    """
    listed: list[dict[str, Any]] = []
    budget = SUMMARY_RESPONSES_CHARS
    for job in jobs:
        response = job.get("response")
        size = len(json.dumps(response, default=str))
        if size > min(SUMMARY_RESPONSE_CHARS, budget):
            response = f"({size:,} characters of Zoho's answer left out of the summary)"
        else:
            budget -= size
        state = job.get("state")
        listed.append(
            {
                **job,
                "state": bounded(state, MAX_ERROR_CODE_CHARS) if isinstance(state, str) else state,
                "response": response,
            }
        )
    return listed
