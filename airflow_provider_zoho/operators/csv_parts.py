"""Reading a CSV from any ObjectStoragePath and cutting it into zipped parts Zoho accepts, streaming.

Nothing is held whole: the source is read record by record through the ``csv`` module, and each part is
written straight into a zip on disk, so memory stays flat whatever the file's size (see
``benchmarks/bulk_write_upload.py``). Pure of Zoho I/O: the operator uploads the parts.
"""

from __future__ import annotations

import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_zoho.compat import ObjectStoragePath

# Zoho auto-detects these delimiters; the one the header uses most is the file's.
DELIMITERS = ",;:|"
MAX_COLUMNS = 200
MAX_RECORDS_PER_JOB = 25_000
MAX_ZIP_BYTES = 25 * 1024 * 1024
# A part is closed this far below the zip limit: the compressor still holds some bytes when it is measured.
ZIP_SIZE_MARGIN = 1024 * 1024


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
    """A local path, or an ``ObjectStoragePath`` for a URI (``s3://``, ``gs://``, ``file://``...)."""
    return ObjectStoragePath(file) if "://" in file else Path(file)


@contextlib.contextmanager
def open_text(file: str, mode: str = "r") -> Iterator[IO[str]]:
    """The file as text for the ``csv`` module (UTF-8, a BOM dropped, newlines left to ``csv``)."""
    with source_path(file).open(mode + "b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig" if mode == "r" else "utf-8", newline="")
        try:
            yield text
        finally:
            text.flush()
            text.detach()


def detect_delimiter(header_line: str) -> str:
    return max(DELIMITERS, key=header_line.count)


def check_header(header: list[str], field_mappings: list[dict[str, Any]] | None) -> None:
    """The checks a header allows before any upload: column count, unnamed columns, mapped indexes."""
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


def split_csv(
    source: IO[str],
    workdir: Path,
    *,
    field_mappings: list[dict[str, Any]] | None = None,
    max_records: int = MAX_RECORDS_PER_JOB,
    max_zip_bytes: int = MAX_ZIP_BYTES,
    csv_name: str = "data.csv",
) -> Iterator[Part]:
    """Yield zipped parts of at most ``max_records`` records and about ``max_zip_bytes``, each with the header.

    The header is checked first and an empty file refused, so a problem surfaces before the first part
    exists, and so before any upload.
    """
    header_line = source.readline()
    delimiter = detect_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter), [])
    if not header:
        raise CsvProblem("the file is empty: it needs a header row and at least one record")
    check_header(header, field_mappings)
    records = csv.reader(source, delimiter=delimiter)
    pending = next(records, None)
    if pending is None:
        raise CsvProblem("the file has a header but no records")
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
            writer = csv.writer(text, delimiter=delimiter)
            writer.writerow(header)
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
