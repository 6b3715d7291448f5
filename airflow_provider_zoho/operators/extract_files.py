"""The file side of an export: checking a result before trusting it, staging its pages, writing the destination once.

Pure of Zoho I/O (the operator downloads; this module reads what was downloaded) and streaming throughout: a
result is read in blocks of whole records (about 1 MiB) from its zip member (or the Analytics body) into a
staged page, each record bounded, so memory never grows with the export's size. A page is checked as it is staged: exactly one CSV
member in a zip, no path in its name, never more than ``max_bytes`` inflated; its rows are counted, its header
kept, the largest ``Modified_Time`` noted, and it is cut after the rows ``max_records`` still allows.

The destination is written once: the pages are joined into a file beside it (in ``<destination>.parts/``; a
single page is that file already), which is then moved over it, so a failed or killed run leaves nothing at the destination itself. The staged
pages stay in ``<destination>.parts/`` until the run succeeds, where a retry (on any worker that sees the
destination's storage) finds them.
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

from airflow_provider_zoho.operators.csv_parts import MAX_FIELD_CHARS, MAX_RECORD_CHARS, source_path

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
    """Copy a CSV from ``source`` to ``sink`` in blocks of whole records, counting and checking as it goes.

    Read per block, not per line: a block without quotes is counted by its line breaks and its watermark found
    with string methods, so its cost per MB stays near a plain copy's; a block with quotes (or the header, or
    the cut at ``max_rows``) is read by the csv module.

    :param source: the CSV (a zip member, or an Analytics body on disk).
    :param sink: where the page is staged.
    :param max_bytes: the most bytes the CSV may have.
    :param max_rows: the most data rows to write; None: all of them.
    :param block_bytes: about how many bytes are read at a time.
    :return: what the staged page holds.
    :raises ExportProblem: a CSV past a bound, or without a header.
    """
    scan = _Scan(max_rows)
    written = 0
    previous_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        for block in _record_blocks(source, max_bytes, block_bytes):
            kept = scan.take(block)
            sink.write(block[:kept])
            written += kept
            if scan.cut:
                break
    except csv.Error as error:
        raise ExportProblem(f"the result is not readable CSV ({error})") from None
    finally:
        csv.field_size_limit(previous_limit)
    if scan.columns is None:
        raise ExportProblem("the result holds no CSV header")
    return StagedPage(scan.rows, written, scan.header_size, scan.columns, scan.watermark, scan.cut)


def _record_end(data: bytes) -> int:
    """Return where the last whole record of ``data`` ends (just after its line break), 0 if none does.

    ``data`` starts a record, so a line break ends one where the quotes before it are even: an odd count means
    the break is inside a quoted field (RFC 4180 doubles a quote inside one, which keeps the count even).
    """
    end = data.rfind(b"\n") + 1
    quotes = data.count(b'"', 0, end)
    while end and quotes % 2:
        # The last quote before an odd break opens the field the break is in: the record began before it.
        opening = data.rfind(b'"', 0, end)
        previous = data.rfind(b"\n", 0, opening) + 1
        quotes -= data.count(b'"', previous, end)
        end = previous
    return end


def _record_blocks(source: IO[bytes], max_bytes: int, block_bytes: int) -> Iterator[bytes]:
    """Yield ``source`` in blocks of whole records (about ``block_bytes`` each; the last may lack a line break).

    Bounded: ``max_bytes`` in all, and a record may not run past ``MAX_RECORD_CHARS`` without ending, so a line
    without end (or a quote never closed) fails before it is held whole.
    """
    pending, size = b"", 0
    while chunk := source.read(block_bytes):
        size += len(chunk)
        if size > max_bytes:
            raise ExportProblem(f"the result inflates past max_download_bytes={max_bytes:,}")
        pending += chunk
        if end := _record_end(pending):
            yield pending[:end]
            pending = pending[end:]
        if len(pending) > MAX_RECORD_CHARS:
            raise ExportProblem(f"a line longer than {MAX_RECORD_CHARS:,} bytes (or a quoted field never closed)")
    if pending:
        yield pending


def _line_end(block: bytes, lines: int) -> int:
    """Return where the first ``lines`` lines of ``block`` end (its end, if it has fewer)."""
    end = 0
    for _ in range(lines):
        end = block.find(b"\n", end) + 1 or len(block)
    return end


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

    Fed block by block (see ``_record_blocks``); each block's kept bytes are returned.

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

    def take(self, block: bytes) -> int:
        """Read a block's records; return how many of its bytes are kept (all but those past ``max_rows``).

        :param block: whole records, as ``_record_blocks`` yields them.
        :return: the bytes of the block to keep, from its start.
        """
        text = block.decode("utf-8", errors="replace")  # read as text; the bytes are kept as Zoho sent them
        if "\r" in text and '"' not in text and text.count("\r") == text.count("\r\n"):
            text = text.replace("\r\n", "\n")  # CRLF lines, read as LF ones: as many lines, the same fields
        unquoted = '"' not in text and "\r" not in text  # then every line is a record, its fields split at commas
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        past_cut = self.max_rows is not None and self.rows + len(lines) > self.max_rows
        if self.columns is None or not unquoted or past_cut:
            return self._take_parsed(block, text)
        self.rows += len(lines)
        if self.watermark_at is not None:
            self.watermark = _latest(_column(lines, self.watermark_at, len(self.columns)), self.watermark)
        return len(block)

    def _take_parsed(self, block: bytes, text: str) -> int:
        """``take`` through the csv module: for the header, quotes, or the cut."""
        reader = csv.reader(io.StringIO(text, newline="\n"))  # lines end at \n only, as the blocks do
        if self.columns is None:
            header = next(reader, [])
            self.columns = [header[0].removeprefix("\ufeff"), *header[1:]] if header else []
            if WATERMARK_COLUMN in self.columns:
                self.watermark_at = self.columns.index(WATERMARK_COLUMN)
            self.header_size = _line_end(block, reader.line_num)
        room = None if self.max_rows is None else self.max_rows - self.rows
        records = list(reader if room is None else itertools.islice(reader, room))
        kept_lines = reader.line_num
        self.cut = room is not None and next(reader, None) is not None  # read, not kept
        self.rows += len(records)
        if (at := self.watermark_at) is not None:
            self.watermark = _latest([record[at] for record in records if at < len(record)], self.watermark)
        return _line_end(block, kept_lines) if self.cut else len(block)


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
        self.is_local = isinstance(self.path, Path)

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
