"""Reading a bulk write job's result zip: which records did not land, and why, streamed row by row.

Zoho's result CSV holds the first three mapped input columns, then ``STATUS`` (added, updated, skipped,
unprocessed), ``RECORD_ID`` and ``ERRORS`` (``<CODE>-<column>``, several joined with ``:``). Rows are
assumed to come in input order, which is how a result row is traced back to its input line (*unverified*:
Zoho documents no row number).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT_COLUMNS = ("STATUS", "RECORD_ID", "ERRORS")
NOT_LANDED = frozenset({"skipped", "unprocessed"})
KEPT_FAILED_ROWS = 100  # in the summary (XCom)
LOGGED_FAILED_ROWS = 20


def error_codes(errors: str) -> list[str]:
    """``"MANDATORY_NOT_FOUND-Last_Name:DUPLICATE_DATA-Email"`` -> ``["MANDATORY_NOT_FOUND", "DUPLICATE_DATA"]``."""
    return [item.split("-", 1)[0].strip() for item in errors.split(":") if item.strip()]


@dataclass
class FailedRows:
    """Failed rows gathered across a task's jobs: the first ``KEPT_FAILED_ROWS``, a count, codes in order met."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        self.total += 1
        for code in error_codes(str(record.get("errors") or "")):
            self.codes[code] = self.codes.get(code, 0) + 1
        if len(self.kept) < KEPT_FAILED_ROWS:
            self.kept.append(record)


def read_result_zip(
    path: Path, first_row: int, failed: FailedRows, on_failed: Callable[[dict[str, Any]], None]
) -> None:
    """Feed every record of the result that did not land to ``failed`` and ``on_failed``, streaming."""
    with zipfile.ZipFile(path) as archive:
        names = [name for name in archive.namelist() if name.lower().endswith(".csv")]
        if not names:
            raise ValueError(f"the result zip holds no CSV file (it holds {archive.namelist()[:5]})")
        with archive.open(names[0]) as member:
            reader = csv.DictReader(io.TextIOWrapper(member, encoding="utf-8-sig", newline=""))
            for offset, row in enumerate(reader):
                status = str(row.get("STATUS") or "").strip().lower()
                if status not in NOT_LANDED:
                    continue
                record: dict[str, Any] = {
                    "row": first_row + offset,
                    "status": status,
                    "errors": row.get("ERRORS") or "",
                }
                record.update({name: value for name, value in row.items() if name not in RESULT_COLUMNS and name})
                failed.add(record)
                on_failed(record)
