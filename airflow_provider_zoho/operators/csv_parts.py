"""Reading a CSV from any ObjectStoragePath and cutting it into zipped parts Zoho accepts, streaming.

Nothing is held whole: the source is read record by record through the ``csv`` module, and each part is
written straight into a zip on disk, so memory stays flat whatever the file's size (see
``benchmarks/bulk_write_upload.py``). Every read goes through ``CsvRows``, which bounds what one line,
one record and one field may cost, and names the line of any problem (the header is line 1). Pure of
Zoho I/O: the operator uploads the parts.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_zoho.compat import AirflowFailException, ObjectStoragePath
from airflow_provider_zoho.products import CRM

# Zoho auto-detects these delimiters; the one the header uses most is the file's.
DELIMITERS = ",;:|"
MAX_COLUMNS = 200
# A CRM or Bigin bulk write job takes one zip of at most this many records and bytes (their records' limits).
MAX_RECORDS_PER_JOB = CRM.limits["records_per_job"]
MAX_ZIP_BYTES = CRM.limits["zip_bytes"]
# A part is closed this far below the zip limit: the compressor still holds some bytes when it is measured.
ZIP_SIZE_MARGIN = 1024 * 1024
# The csv module's own default field limit: Zoho's longest text field (multi-line, 32,000 characters) fits.
MAX_FIELD_CHARS = 131_072
# The text of one record, its header included (all its physical lines): what one record may cost in memory
# whatever the process set ``csv.field_size_limit`` to; 200 columns of 32,000 characters fit. It also bounds
# the header line of a file with no line break (a 300 MB one, /dev/zero behind a symlink...).
MAX_RECORD_CHARS = 8 * 1024 * 1024
# A byte that is not UTF-8, as the ``surrogateescape`` decoder leaves it: found per line, so the line is exact.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


class CsvProblem(ValueError):
    """The file breaks a limit Zoho would refuse it for; raised before anything is uploaded."""


@dataclass(frozen=True)
class Part:
    """One zipped slice of the input: ``first_row`` is the input line of its first record (the header is 1)."""

    index: int
    path: Path
    first_row: int
    records: int


def source_path(file: str) -> Path | Any:
    """Return a local path, or an ``ObjectStoragePath`` for a URI (``s3://``, ``gs://``, ``file://``...).

    :param file: the path or URI the task was given; anything with ``://`` is a URI.
    :return: a ``Path`` or an ``ObjectStoragePath``, both opened with ``.open("rb")``.
    """
    return ObjectStoragePath(file) if "://" in file else Path(file)


def is_local(path: Any) -> bool:
    """Tell whether ``source_path`` gave a local path (not an ``ObjectStoragePath``).

    Not ``isinstance(path, Path)``: on Airflow 2.11 an ``ObjectStoragePath`` is a ``pathlib.Path`` too
    (universal_pathlib's shim), and ``os`` calls on it would take its URI for a file name.

    :param path: what ``source_path`` returned.
    :return: True for a local path.
    """
    return isinstance(path, Path) and not isinstance(path, ObjectStoragePath)


def check_source_file(task_id: str, file: str, parameter: str = "file") -> int:
    """Fail (``AirflowFailException``) unless ``file`` is a regular file that can be read; return its size.

    A FIFO would block the first read forever, a character device (``/dev/zero``) never ends and a directory
    fails deep inside an upload: each is refused here, before any request, naming the task and parameter. A
    local path is opened without blocking and checked on the open file (so a FIFO swapped in after a check is
    seen too); an ObjectStoragePath URI can only be checked for existing and being a file.

    :param task_id: the task, for the message.
    :param file: the path or URI the task was given.
    :param parameter: the operator's parameter that holds it, for the message.
    :return: the file's size in bytes.
    """
    where = f"{task_id}: {parameter} {file!r}"
    path = source_path(file)
    try:
        if not is_local(path):
            if not path.exists():
                raise AirflowFailException(f"{where} does not exist")
            if not path.is_file():
                raise AirflowFailException(f"{where} is not a regular file")
            return int(path.stat().st_size)
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            mode = os.fstat(descriptor)
        finally:
            os.close(descriptor)
    except FileNotFoundError:
        raise AirflowFailException(f"{where} does not exist") from None
    except OSError as error:
        raise AirflowFailException(f"{where} cannot be read ({error.strerror or error})") from None
    if not stat.S_ISREG(mode.st_mode):
        raise AirflowFailException(f"{where} is not a regular file (it is a {_file_kind(mode.st_mode)})")
    return mode.st_size


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "directory", stat.S_ISFIFO: "FIFO", stat.S_ISCHR: "character device"}
    return next((name for test, name in kinds.items() if test(mode)), "special file")


@contextlib.contextmanager
def as_text(raw: IO[bytes], mode: str = "r") -> Iterator[IO[str]]:
    """Wrap a binary stream as text for the ``csv`` module (UTF-8, a BOM dropped, newlines left to ``csv``).

    Read with ``surrogateescape``: a byte that is not UTF-8 is found by ``CsvRows`` on its own line, where a
    strict decoder would raise from whichever later line shares its 8 KB chunk. The stream stays open.

    :param raw: the binary stream (a file, a zip member).
    :param mode: ``"r"`` to read (BOM dropped, undecodable bytes kept for ``CsvRows``), else to write
        strict UTF-8.
    :return: the text stream, detached from ``raw`` on exit.
    """
    reading = mode == "r"
    text = io.TextIOWrapper(
        raw,
        encoding="utf-8-sig" if reading else "utf-8",
        errors="surrogateescape" if reading else "strict",
        newline="",
    )
    try:
        yield text
    finally:
        text.flush()
        text.detach()


@contextlib.contextmanager
def open_text(file: str) -> Iterator[IO[str]]:
    """Open ``file`` (a path or URI) as text to read, see ``as_text``.

    :param file: the path or URI the task was given.
    :return: the text stream, closed with the file on exit.
    """
    with source_path(file).open("rb") as raw, as_text(raw) as text:
        yield text


class CsvRows:
    """A CSV read record by record, each cost bounded, each problem a ``CsvProblem`` naming its line.

    The header is read on construction (``header``, ``delimiter``); iterating yields the records after it.
    Bounded: one record's text (``MAX_RECORD_CHARS``, a header too), a field (``MAX_FIELD_CHARS``), the
    columns of a row (``max_columns``). Lines are counted as the file has them (the header is line 1), so a
    quoted line break moves later records' numbers on by one, as an editor shows them.

    :param source: the text, from ``as_text`` or ``open_text``.
    :param max_columns: the most fields a row may have; ``None`` for no bound but the record's size.
    :param delimiter: the delimiter, or ``None`` to take the one the header uses most.
    """

    def __init__(self, source: IO[str], *, max_columns: int | None, delimiter: str | None = None) -> None:
        """Read the header line and set up the reader of the records after it (see the class for the parameters)."""
        self._source = source
        self._max_columns = max_columns
        self.line = 0  # physical lines read so far
        self._begin_record()
        lines = self._lines()
        first = next(lines, "")
        self.delimiter = delimiter or detect_delimiter(first)
        self._reader = csv.reader(itertools.chain([first] if first else [], lines), delimiter=self.delimiter)
        self.header: list[str] = self._next() or []

    def _lines(self) -> Iterator[str]:
        while True:
            line = self._source.readline(MAX_RECORD_CHARS - self._record_chars + 1)
            if not line:
                return
            self.line += 1
            self._record_chars += len(line)
            if self._record_chars > MAX_RECORD_CHARS:
                raise CsvProblem(
                    f"line {self.record_line}: a record runs past {MAX_RECORD_CHARS:,} characters (a line with no "
                    "end, or a quote left open)"
                )
            if not line.isascii() and (bad := _NOT_UTF8.search(line)):
                raise CsvProblem(f"line {self.line}: byte 0x{ord(bad.group()) - 0xDC00:02x} is not UTF-8")
            yield line

    def _begin_record(self) -> None:
        self._record_chars = 0
        self.record_line = self.line + 1  # the line the record being read began on

    def _next(self) -> list[str] | None:
        try:
            row = next(self._reader, None)
        except csv.Error as error:
            raise CsvProblem(f"line {self.line}: {error}") from None
        if row is None:
            return None
        if self._max_columns is not None and len(row) > self._max_columns:
            raise CsvProblem(f"line {self.record_line}: {len(row):,} fields, more than the {self._max_columns} taken")
        if (longest := max(map(len, row), default=0)) > MAX_FIELD_CHARS:
            column = next(n for n, value in enumerate(row, 1) if len(value) == longest)
            raise CsvProblem(
                f"line {self.record_line}: field {column} is {longest:,} characters long, more than {MAX_FIELD_CHARS:,}"
            )
        return row

    def __iter__(self) -> Iterator[list[str]]:
        """Yield the records after the header, raising ``CsvProblem`` at the first one past a bound."""
        while True:
            self._begin_record()
            if (row := self._next()) is None:
                return
            yield row


def detect_delimiter(header_line: str) -> str:
    """Return the delimiter among ``DELIMITERS`` (those Zoho auto-detects) that ``header_line`` uses most.

    :param header_line: the file's first line.
    :return: that delimiter; ``,`` when the line holds none of them.
    """
    return max(DELIMITERS, key=header_line.count)


def check_header(header: list[str], field_mappings: list[dict[str, Any]] | None) -> None:
    """Check a header before any upload: column count, unnamed columns, mapped indexes.

    :param header: the file's header row.
    :param field_mappings: the operator's ``field_mappings``; without them each column must be named.
    :raises CsvProblem: naming the rule the header breaks.
    """
    if len(header) > MAX_COLUMNS:
        raise CsvProblem(f"the file has {len(header)} columns; Zoho takes at most {MAX_COLUMNS} per file")
    if not field_mappings and (blank := [str(n) for n, name in enumerate(header, 1) if not name.strip()]):
        raise CsvProblem(
            f"column(s) {', '.join(blank)} of the header have no name; without field_mappings each header must be "
            "a field's API name"
        )
    for mapping in field_mappings or ():
        index = mapping.get("index")
        if isinstance(index, int) and not 0 <= index < len(header):
            raise CsvProblem(
                f"field_mappings maps {mapping.get('api_name')!r} to column index {index}, but the file has "
                f"{len(header)} columns (indexes start at 0)"
            )


def check_csv(source: IO[str], field_mappings: list[dict[str, Any]] | None) -> None:
    """Read the whole file, raising ``CsvProblem`` naming the line at fault.

    Run before the first upload: a problem at line 3,002 of a file cut in parts would otherwise surface
    after the first part's job exists. Checks the header (``check_header``), UTF-8, each record's size and
    fields, and that each record has the header's number of fields (an empty line passes, as it always has).

    :param source: the file as text (``open_text``), read to its end.
    :param field_mappings: the operator's ``field_mappings``, for ``check_header``.
    :raises CsvProblem: for the first problem met, with its line.
    """
    rows = CsvRows(source, max_columns=None)  # the header's width is check_header's, each row's the header's
    if not rows.header:
        raise CsvProblem("the file is empty: it needs a header row and at least one record")
    check_header(rows.header, field_mappings)
    records = 0
    for row in rows:
        if row and len(row) != len(rows.header):
            raise CsvProblem(f"line {rows.record_line}: {len(row)} fields where the header has {len(rows.header)}")
        records += 1
    if not records:
        raise CsvProblem("the file has a header but no records")


def split_csv(
    rows: CsvRows,
    workdir: Path,
    *,
    max_records: int = MAX_RECORDS_PER_JOB,
    max_zip_bytes: int = MAX_ZIP_BYTES,
    csv_name: str = "data.csv",
) -> Iterator[Part]:
    """Yield zipped parts of at most ``max_records`` records and about ``max_zip_bytes``, each with the header.

    ``rows`` is a file ``check_csv`` has passed: the parts are cut as it is read, each written before the
    next is begun, so one part at a time is on disk.

    :param rows: the file, its header read; each part repeats that header.
    :param workdir: where the parts' zips are written (``part-00000.zip``...).
    :param max_records: the most records one part holds (Zoho's limit per job).
    :param max_zip_bytes: the size each part's zip is kept under, with a margin (Zoho's limit per upload).
    :param csv_name: the CSV's name inside each zip.
    :return: an iterator of the parts, in order.
    """
    records = iter(rows)
    pending = next(records, None)
    row, index = 2, 0
    limit = max(1, max_zip_bytes - min(ZIP_SIZE_MARGIN, max_zip_bytes // 4))
    while pending is not None:
        path = workdir / f"part-{index:05d}.zip"
        count = 0
        with (
            path.open("wb") as handle,
            zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive,
            archive.open(csv_name, "w", force_zip64=True) as member,
        ):
            text = io.TextIOWrapper(member, encoding="utf-8", newline="")
            writer = csv.writer(text, delimiter=rows.delimiter)
            writer.writerow(rows.header)
            while pending is not None and count < max_records:
                writer.writerow(pending)
                count += 1
                pending = next(records, None)
                if count % 500 == 0:
                    text.flush()
                    if handle.tell() >= limit:
                        break
            text.flush()
            text.detach()
        yield Part(index, path, row, count)
        row += count
        index += 1
