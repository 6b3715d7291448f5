"""The file side of an export: checking a result before trusting it, staging its pages, writing the destination once.

Pure of Zoho I/O (the operator downloads; this module reads what was downloaded) and streaming throughout: a
result is read in blocks of whole lines (about 1 MiB) from its zip member (or the Analytics body) into a staged
page, each record bounded, so memory never grows with the export's size. A page is checked as it is staged:
exactly one CSV member in a zip, no path in its name, never more than ``max_bytes`` inflated; its rows are
counted, its header kept, the largest ``Modified_Time`` noted, and it is cut after the rows ``max_records``
still allows.

The destination is written once: the pages are joined into a file beside it (in ``<destination>.parts/``; a
single page is that file already), which is then moved over it, so a failed or killed run leaves nothing at the
destination itself. The staged pages stay in ``<destination>.parts/`` until the run succeeds, where a retry (on
any worker that sees the destination's storage) finds them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import operator
import os
import re
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_zoho.operators.csv_parts import MAX_FIELD_CHARS, MAX_RECORD_CHARS, is_local, source_path

# Bytes copied at a time between files: large enough that the copy costs no more than the disk does.
COPY_CHUNK_BYTES = 1024 * 1024
# The staging directory beside the destination, and its pages' and joined file's names.
STAGING_SUFFIX = ".parts"
JOINED_NAME = "joined.partial"
WATERMARK_COLUMN = "Modified_Time"


class ExportProblem(ValueError):
    """A result that cannot be trusted (or a page that contradicts the others): the task fails naming it."""


@dataclass(frozen=True)
class StagedPage:
    """What one staged page holds.

    :param rows: its data rows (after the header), as written; None for a file that is not CSV.
    :param size: its bytes, header included.
    :param header_size: the bytes of its header record (left out when it is not the first page).
    :param columns: its header.
    :param watermark: the largest ``Modified_Time`` among its rows, as Zoho wrote it; None without that column.
    :param cut: rows were left out, as ``max_records`` asked.
    """

    rows: int | None
    size: int
    header_size: int
    columns: list[str]
    watermark: str | None
    cut: bool


def member_problem(archive: zipfile.ZipFile) -> str | None:
    """Return why a result zip cannot be trusted, or None: Zoho's holds exactly one CSV, named without a path.

    :param archive: the opened zip.
    :return: what was found instead, for the task's message.
    """
    names = [info.filename for info in archive.infolist()]
    shown = ", ".join(repr(name[:100]) for name in names[:5]) + (" ..." if len(names) > 5 else "")
    if len(names) != 1:
        return f"{len(names)} members ({shown or 'none'}), not exactly one CSV"
    [info] = archive.infolist()
    name = info.filename
    if "/" in name or "\\" in name or name.startswith("..") or ":" in name or not name.strip():
        return f"a member named {name[:100]!r}: a path, not a file name"
    if not name.lower().endswith(".csv"):
        return f"a member named {name[:100]!r}, not a CSV"
    if info.flag_bits & 0x1:
        return f"an encrypted member {name[:100]!r}"
    return None


@contextlib.contextmanager
def csv_member(zip_path: Path) -> Iterator[IO[bytes]]:
    """Open the one CSV of a result zip, checked first (see ``member_problem``).

    :param zip_path: the downloaded zip.
    :return: the member's stream, inflating as it is read.
    :raises ExportProblem: not a zip, or not what Zoho's results hold.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ExportProblem(f"the result is not a readable zip ({error})") from None
    with archive:
        if problem := member_problem(archive):
            raise ExportProblem(f"the result zip holds {problem}")
        try:
            with archive.open(archive.infolist()[0]) as member:
                yield member
        except (zipfile.BadZipFile, NotImplementedError, EOFError) as error:  # a corrupt or odd member
            raise ExportProblem(f"the result zip cannot be read ({type(error).__name__}: {error})") from None


def _later(candidate: str, current: str | None) -> bool:
    """Tell whether a ``Modified_Time`` is later than the largest so far (an unreadable one never is)."""
    try:
        moment = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return False
    if current is None:
        return True
    try:
        return moment > dt.datetime.fromisoformat(current)
    except (ValueError, TypeError):  # naive against aware: compared as text, both ISO 8601
        return candidate > current


def stage_csv(
    source: IO[bytes], sink: IO[bytes], *, max_bytes: int, max_rows: int | None, block_bytes: int = COPY_CHUNK_BYTES
) -> StagedPage:
    """Copy a CSV from ``source`` to ``sink`` in blocks of whole lines, counting and checking as it goes.

    Read per block, not per line: a block without quotes is counted by its line breaks and its watermark found
    with string methods, so its cost per MB stays near a plain copy's; a block with quotes (or the header, or
    the cut at ``max_rows``) is read by the csv module, which also says where its last whole record ends.

    :param source: the CSV (a zip member, or an Analytics body on disk).
    :param sink: where the page is staged.
    :param max_bytes: the most bytes the CSV may have.
    :param max_rows: the most data rows to write; None: all of them.
    :param block_bytes: about how many bytes are read at a time.
    :return: what the staged page holds.
    :raises ExportProblem: a CSV past a bound, or without a header.
    """
    scan = _Scan(max_rows)
    written, size, pending = 0, 0, b""
    previous_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        while not scan.cut:
            chunk = source.read(min(block_bytes, max_bytes + 1 - size))  # one byte past the bound says it is
            size += len(chunk)
            over = size > max_bytes
            pending += chunk[: len(chunk) - 1] if over else chunk
            final = not chunk
            end = len(pending) if final else pending.rfind(b"\n") + 1
            if end:
                consumed, kept = scan.take(pending[:end], final=final)
                sink.write(pending[:kept])
                written += kept
                pending = pending[consumed:]
            if over and not scan.cut:  # a cut within the bound is a page, as Zoho's first rows are
                raise ExportProblem(f"the result inflates past max_download_bytes={max_bytes:,}")
            if final:
                break
            if len(pending) > MAX_RECORD_CHARS:
                raise ExportProblem(
                    f"a record longer than {MAX_RECORD_CHARS:,} bytes (a line without end, or a quote never closed)"
                )
    except csv.Error as error:
        raise ExportProblem(f"the result is not readable CSV ({error})") from None
    finally:
        csv.field_size_limit(previous_limit)
    if scan.columns is None:
        raise ExportProblem("the result holds no CSV header")
    return StagedPage(scan.rows, written, scan.header_size, scan.columns, scan.watermark, scan.cut)


def _line_end(block: bytes, lines: int) -> int:
    """Return where the first ``lines`` lines of ``block`` end (its end, if it has fewer)."""
    parts = block.split(b"\n", lines)  # in C, not a find per line
    return len(block) - len(parts[-1]) if len(parts) > lines else len(block)


# Modified_Time as Zoho writes it (ISO 8601 to the second, then its offset): of two with the same offset, the
# later is the larger text (fixed-width digits), so a block's latest is found by ``max``, without parsing each.
_ISO_SECONDS = "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
_SECONDS_CHARS = len("2026-01-01T00:00:00")
_MAX_OFFSET_CHARS = len("+05:30")


def _latest(values: Sequence[str], current: str | None) -> str | None:
    """Return the latest of some ``Modified_Time`` values and ``current`` (an unreadable value never is).

    :param values: a block's values, in any order.
    :param current: the latest so far, or None.
    """
    values = list(filter(None, values))  # an empty value is never the latest, nor a reason to read each one
    if not values:
        return current
    offset = values[0][_SECONDS_CHARS:]
    if len(offset) <= _MAX_OFFSET_CHARS:
        one_form = re.compile(f"(?:{_ISO_SECONDS}{re.escape(offset)}\n)*")
        if one_form.fullmatch("\n".join(values) + "\n"):
            largest = max(values)
            with contextlib.suppress(ValueError):  # an impossible date (month 13): each value is read instead
                dt.datetime.fromisoformat(largest)
                return largest if _later(largest, current) else current
    for value in values:  # mixed offsets or forms: compared as moments, one by one
        if _later(value, current):
            current = value
    return current


def _column(lines: Sequence[str], index: int, width: int) -> list[str]:
    """Return field ``index`` of each unquoted line that has it, as the csv module would read it.

    Split from whichever end is nearer the field, so a ``Modified_Time`` near the end costs few splits; from
    the end only when every line has ``width`` fields.
    """
    after = width - 1 - index
    if after < index and set(map(str.count, lines, itertools.repeat(","))) == {width - 1}:
        return list(map(operator.itemgetter(1), map(operator.methodcaller("rsplit", ",", after + 1), lines)))
    return [
        fields[index] for fields in map(operator.methodcaller("split", ",", index + 1), lines) if index < len(fields)
    ]


class _Scan:
    """What a CSV's records read so far hold: its header, its rows (up to ``max_rows``), its latest Modified_Time.

    Fed block by block; each block's whole records are read, the rest is fed again with the next block.

    :param max_rows: the most data rows to keep; None: all of them.
    """

    def __init__(self, max_rows: int | None) -> None:
        self.max_rows = max_rows
        self.columns: list[str] | None = None
        self.header_size = 0
        self.rows = 0
        self.watermark: str | None = None
        self.watermark_at: int | None = None
        self.cut = False  # a record past ``max_rows`` was read: nothing more is

    def take(self, block: bytes, *, final: bool) -> tuple[int, int]:
        """Read a block's whole records.

        :param block: whole lines (the CSV's end, when ``final``), starting a record.
        :param final: the block ends the CSV: a record it leaves open ends there, as the csv module reads it.
        :return: the bytes read (up to the end of the block's last whole record) and the bytes kept (as many,
            or fewer where ``max_rows`` cuts).
        """
        if len(block) > MAX_RECORD_CHARS and max(map(len, block.split(b"\n"))) > MAX_RECORD_CHARS:
            raise ExportProblem(f"a line longer than {MAX_RECORD_CHARS:,} bytes")
        text = block.decode("utf-8", errors="replace")  # read as text; the bytes are kept as Zoho sent them
        if '"' not in text and "\r" in text and text.count("\r") == text.count("\r\n"):
            text = text.replace("\r\n", "\n")  # CRLF lines, read as LF ones: as many lines, the same fields
        if self.columns is None or '"' in text or "\r" in text:
            return self._take_parsed(block, text, final)
        lines = text.split("\n")  # no quoting: every line is a record, its fields split at commas
        if lines[-1] == "":
            lines.pop()
        past_cut = self.max_rows is not None and self.rows + len(lines) > self.max_rows
        if past_cut or max(map(len, lines), default=0) > MAX_FIELD_CHARS:  # the csv module checks the field
            return self._take_parsed(block, text, final)
        self.rows += len(lines)
        if self.watermark_at is not None:
            self.watermark = _latest(_column(lines, self.watermark_at, len(self.columns)), self.watermark)
        return len(block), len(block)

    def _take_parsed(self, block: bytes, text: str, final: bool) -> tuple[int, int]:
        """``take`` through the csv module: for the header, quotes, or the cut."""
        # A line holding one quote, after the block: it starts a record (if the block's last one is whole) or
        # closes the quoted field left open. Either way a record that reads into it is not whole: the records
        # before it end where the block's whole records do, as the csv module reads them (stray quotes too).
        reader = csv.reader(io.StringIO(text if final else text + '"\n', newline="\n"))  # lines end at \n only
        # Past the cut only one record is read, as the csv module would stop there: what follows is never parsed.
        wanted = None if self.max_rows is None else self.max_rows - self.rows + 1 + (self.columns is None)
        records: list[list[str]] = []
        ends: list[int] = []  # the lines read by the end of each record
        for record in reader:
            records.append(record)
            ends.append(reader.line_num)
            if len(records) == wanted:
                break
        if not final and reader.line_num > text.count("\n"):  # the last record read ran into the added line
            records.pop()
            ends.pop()
        consumed = _line_end(block, ends[-1]) if ends else 0
        header_end = 0  # of the header, where this block holds it
        if self.columns is None and records:
            header = records.pop(0)
            self.columns = [header[0].removeprefix("\ufeff"), *header[1:]] if header else []
            if WATERMARK_COLUMN in self.columns:
                self.watermark_at = self.columns.index(WATERMARK_COLUMN)
            header_end = self.header_size = _line_end(block, ends.pop(0))
        kept = consumed
        if self.max_rows is not None and self.rows + len(records) > self.max_rows:
            room = self.max_rows - self.rows
            self.cut = True  # record ``room`` + 1 was read, not kept
            kept = _line_end(block, ends[room - 1]) if room else header_end
            del records[room:]
        self.rows += len(records)
        if (at := self.watermark_at) is not None:
            self.watermark = _latest([record[at] for record in records if at < len(record)], self.watermark)
        return consumed, kept


def copy_bounded(source: IO[bytes], sink: IO[bytes], max_bytes: int) -> int:
    """Copy a file that is not CSV (an Analytics JSON export) as it is, at most ``max_bytes``.

    :param source: the file.
    :param sink: where it is staged.
    :param max_bytes: the most bytes accepted.
    :return: the bytes copied.
    :raises ExportProblem: past ``max_bytes``.
    """
    size = 0
    while chunk := source.read(COPY_CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise ExportProblem(f"the result is larger than max_download_bytes={max_bytes:,}")
        sink.write(chunk)
    return size


class Destination:
    """Where an export goes: the file itself, and ``<destination>.parts/`` beside it for the staged pages.

    :param uri: a local path or any ObjectStoragePath URI.
    """

    def __init__(self, uri: str) -> None:
        """Resolve the destination and its staging directory (nothing is created yet)."""
        self.uri = uri
        self.path: Any = source_path(uri)
        self.staging: Any = source_path(uri + STAGING_SUFFIX)
        self.is_local = is_local(self.path)

    def page(self, number: int) -> Any:
        """Return where page ``number`` (from 1) is staged.

        :param number: the page's number.
        :return: its path in the staging directory.
        """
        return self.staging / f"page-{number:05d}.csv"

    def stage(self, local: Path, number: int) -> None:
        """Put a page written locally into the staging directory (moved on a local disk, copied elsewhere).

        :param local: the page, written in full.
        :param number: the page's number.
        """
        target = self.page(number)
        self.staging.mkdir(parents=True, exist_ok=True)
        if self.is_local:
            os.replace(local, target)
            return
        with local.open("rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, COPY_CHUNK_BYTES)

    def write(self, pages: Sequence[tuple[Any, int]]) -> int:
        """Join the staged pages into the destination, written once: beside it first, then moved over it.

        :param pages: each page's staged path and the header bytes to leave out of it (0 for the first).
        :return: the bytes written.
        """
        self.staging.mkdir(parents=True, exist_ok=True)
        if len(pages) == 1 and pages[0][1] == 0:
            # One page is the file itself: moved, not copied (a retry that finds it gone downloads it again).
            joined = pages[0][0]
            size = int(joined.stat().st_size)
        else:
            joined = self.staging / JOINED_NAME
            size = 0
            with joined.open("wb") as sink:
                for path, skip in pages:
                    with path.open("rb") as source:
                        source.seek(skip)
                        while chunk := source.read(COPY_CHUNK_BYTES):
                            sink.write(chunk)
                            size += len(chunk)
        if self.is_local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(joined, self.path)  # atomic on one file system: the destination is whole or absent
        else:
            joined.fs.mv(joined.path, self.path.path)
        return size

    def clean(self) -> None:
        """Remove the staging directory once the destination is written."""
        if self.is_local:
            shutil.rmtree(self.staging, ignore_errors=True)
        elif self.staging.exists():
            self.staging.fs.rm(self.staging.path, recursive=True)
