"""The file side of an export: checking a result before trusting it, staging its pages, writing the destination once.

Pure of Zoho I/O (the operator downloads; this module reads what was downloaded) and streaming throughout: a
result is read line by line from its zip member (or the Analytics body) into a staged page, each line's cost
bounded, so memory never grows with the export's size. A page is checked as it is staged: exactly one CSV
member in a zip, no path in its name, never more than ``max_bytes`` inflated; its rows are counted, its header
kept, the largest ``Modified_Time`` noted, and it is cut after the rows ``max_records`` still allows.

The destination is written once: the pages are joined into a file beside it (in ``<destination>.parts/``),
which is then moved over it, so a failed or killed run leaves nothing at the destination itself. The staged
pages stay in ``<destination>.parts/`` until the run succeeds, where a retry (on any worker that sees the
destination's storage) finds them.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
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


class _Copied:
    """The lines of a stream, each written to ``sink`` as it is read, bounded in bytes per line and in all."""

    def __init__(self, source: IO[bytes], sink: IO[bytes], max_bytes: int) -> None:
        self.source, self.sink, self.max_bytes = source, sink, max_bytes
        self.size = 0  # read
        self.written = 0
        self.writing = True

    def __iter__(self) -> Iterator[str]:
        while line := self.source.readline(MAX_RECORD_CHARS + 1):
            if len(line) > MAX_RECORD_CHARS:
                raise ExportProblem(f"a line longer than {MAX_RECORD_CHARS:,} bytes")
            self.size += len(line)
            if self.size > self.max_bytes:
                raise ExportProblem(f"the result inflates past max_download_bytes={self.max_bytes:,}")
            if self.writing:
                self.sink.write(line)
                self.written += len(line)
            # Decoded for the csv module only: the bytes are written as Zoho sent them.
            yield line.decode("utf-8", errors="replace")


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


def stage_csv(source: IO[bytes], sink: IO[bytes], *, max_bytes: int, max_rows: int | None) -> StagedPage:
    """Copy a CSV from ``source`` to ``sink`` record by record, counting and checking as it goes.

    :param source: the CSV (a zip member, or an Analytics body on disk).
    :param sink: where the page is staged.
    :param max_bytes: the most bytes the CSV may have.
    :param max_rows: the most data rows to write; None: all of them.
    :return: what the staged page holds.
    :raises ExportProblem: a CSV past a bound, or without a header.
    """
    lines = _Copied(source, sink, max_bytes)
    reader = csv.reader(lines)
    previous_limit = csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        header = next(reader, None)
        if header is None:
            raise ExportProblem("the result holds no CSV header")
        header_size = lines.size
        columns = [header[0].removeprefix("\ufeff"), *header[1:]] if header else []
        watermark_at = columns.index(WATERMARK_COLUMN) if WATERMARK_COLUMN in columns else None
        rows, watermark, cut = 0, None, False
        for row in reader:
            if max_rows is not None and rows >= max_rows:
                cut = True  # this record was read, not written: ``writing`` stopped before it
                break
            rows += 1
            if watermark_at is not None and watermark_at < len(row) and _later(row[watermark_at], watermark):
                watermark = row[watermark_at]
            if max_rows is not None and rows >= max_rows:
                lines.writing = False  # the next record is only read, to tell whether there was one
    except csv.Error as error:
        raise ExportProblem(f"the result is not readable CSV ({error})") from None
    finally:
        csv.field_size_limit(previous_limit)
    return StagedPage(rows, lines.written, header_size, columns, watermark, cut)


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
