"""The file side of an export: a result checked before it is trusted, pages staged, the destination written once."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_zoho.operators.extract_files import (
    Destination,
    ExportProblem,
    _later,
    copy_bounded,
    csv_member,
    stage_csv,
)


def zipped(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def csv_bytes(rows: list[list[str]]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


@pytest.mark.parametrize(
    ("members", "found"),
    [
        ({"../x.csv": b"id\n1\n"}, "a member named '../x.csv': a path, not a file name"),
        ({"dir/x.csv": b"id\n1\n"}, "a path, not a file name"),
        ({"a.csv": b"id\n", "b.csv": b"id\n"}, "2 members ('a.csv', 'b.csv'), not exactly one CSV"),
        ({}, "0 members (none), not exactly one CSV"),
        ({"x.exe": b"MZ"}, "a member named 'x.exe', not a CSV"),
    ],
)
def test_a_result_zip_that_is_not_one_csv_is_refused_naming_what_it_holds(
    tmp_path: Path, members: dict[str, bytes], found: str
) -> None:
    archive = zipped(tmp_path / "r.zip", members)
    with pytest.raises(ExportProblem, match="the result zip holds") as refused, csv_member(archive):
        pass
    assert found in str(refused.value)


def test_a_result_that_is_no_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.zip").write_bytes(b'{"code": "INTERNAL_ERROR"}')
    with pytest.raises(ExportProblem, match="not a readable zip"), csv_member(tmp_path / "r.zip"):
        pass


def test_a_page_is_copied_as_zoho_wrote_it_counted_and_its_watermark_noted(tmp_path: Path) -> None:
    rows = [
        ["id", "Last_Name", "Modified_Time"],
        ["1", "Boyle", "2026-01-02T10:00:00+05:30"],
        ["2", 'multi\nline, "quoted"', "2026-01-02T06:00:00+00:00"],  # later: 06:00Z is after 04:30Z
        ["3", "Pat", "2026-01-01T23:00:00+00:00"],
    ]
    data = csv_bytes(rows)
    sink = io.BytesIO()
    page = stage_csv(io.BytesIO(data), sink, max_bytes=10_000, max_rows=None)
    assert sink.getvalue() == data
    assert (page.rows, page.size, page.columns, page.cut) == (3, len(data), rows[0], False)
    assert page.header_size == len(csv_bytes(rows[:1]))
    assert page.watermark == "2026-01-02T06:00:00+00:00"


def test_a_page_is_cut_after_the_rows_max_records_leaves(tmp_path: Path) -> None:
    rows = [["id", "Note"], *[[str(n), f"line {n}\nand more"] for n in range(10)]]
    sink = io.BytesIO()
    page = stage_csv(io.BytesIO(csv_bytes(rows)), sink, max_bytes=10_000, max_rows=4)
    assert (page.rows, page.cut) == (4, True)
    assert list(csv.reader(io.StringIO(sink.getvalue().decode()))) == rows[:5]
    assert page.size == len(sink.getvalue())


def test_no_watermark_without_a_modified_time_column() -> None:
    page = stage_csv(io.BytesIO(b"id,Name\r\n1,a\r\n"), io.BytesIO(), max_bytes=100, max_rows=None)
    assert (page.rows, page.watermark) == (1, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"id\n" + b"1\n" * 100, "inflates past max_download_bytes=50"),
        (b"", "no CSV header"),
    ],
)
def test_a_page_past_its_bounds_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(ExportProblem, match=message):
        stage_csv(io.BytesIO(data), io.BytesIO(), max_bytes=50, max_rows=None)


def test_a_line_without_end_is_refused_before_it_is_held_whole() -> None:
    endless = io.BytesIO(b"id," + b"x" * (9 * 1024 * 1024))
    with pytest.raises(ExportProblem, match="a record longer than"):
        stage_csv(endless, io.BytesIO(), max_bytes=20 * 2**20, max_rows=None)


def test_a_quote_never_closed_is_refused_before_the_record_is_held_whole() -> None:
    unclosed = io.BytesIO(b'id,Note\n1,"' + b"line\n" * (2 * 1024 * 1024))  # 10 MiB of lines inside one field
    with pytest.raises(ExportProblem, match="field larger than field limit"):
        stage_csv(unclosed, io.BytesIO(), max_bytes=20 * 2**20, max_rows=None)
    assert unclosed.tell() <= 2 * 2**20  # refused at its first blocks, not after reading it all


def test_a_file_that_is_not_csv_is_copied_bounded() -> None:
    sink = io.BytesIO()
    assert copy_bounded(io.BytesIO(b'{"rows": []}'), sink, 100) == 12
    with pytest.raises(ExportProblem, match="larger than max_download_bytes=5"):
        copy_bounded(io.BytesIO(b'{"rows": []}'), io.BytesIO(), 5)


cells = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
plain_cells = st.text(alphabet=st.characters(codec="ascii", exclude_characters=',"\r\n'), max_size=12)
moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1))
offsets = st.sampled_from(["+00:00", "+05:30", "-04:00", "-05:00", "Z", ""])
modified_times = st.builds(
    lambda moment, offset: moment.strftime("%Y-%m-%dT%H:%M:%S") + offset, moments, offsets
) | st.sampled_from(["", "2026-13-01T00:00:00+00:00", "9999-99-99T99:99:99+00:00", "soon", "2026-01-01 10:00:00"])


def latest_by_csv_module(rows: list[list[str]], column: int) -> str | None:
    """The watermark read the plain way: each row's Modified_Time compared as a moment."""
    latest = None
    for row in rows:
        if _later(row[column], latest):
            latest = row[column]
    return latest


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.tuples(cells | plain_cells, plain_cells, modified_times), max_size=14),
    limit=st.none() | st.integers(min_value=0, max_value=16),
    block_bytes=st.integers(min_value=1, max_value=96),
    line_end=st.sampled_from(["\n", "\r\n"]),
    modified_first=st.booleans(),
)
def test_staging_keeps_exactly_the_records_the_csv_module_reads(
    rows: list[tuple[str, str, str]], limit: int | None, block_bytes: int, line_end: str, modified_first: bool
) -> None:
    """Whatever the cells hold (quotes, commas, line breaks), wherever the blocks end and whichever end of a line
    Modified_Time is nearer, the count, the cut and the watermark are what the csv module reads."""
    # csv.writer quotes a carriage return only when the line terminator holds one; unquoted, the csv module reads
    # it as a line break, so with "\n" lines the cells go without one.
    records = [[cell if line_end == "\r\n" else cell.replace("\r", "") for cell in row] for row in rows]
    header = ["id", "Note", "Modified_Time"]
    if modified_first:  # split off from the line's start, not its end
        header, records = header[::-1], [record[::-1] for record in records]
    text = io.StringIO()
    csv.writer(text, lineterminator=line_end).writerows([header, *records])
    data = text.getvalue().encode()
    sink = io.BytesIO()
    page = stage_csv(io.BytesIO(data), sink, max_bytes=len(data), max_rows=limit, block_bytes=block_bytes)
    kept = records if limit is None else records[:limit]
    assert list(csv.reader(io.StringIO(sink.getvalue().decode(), newline=""))) == [header, *kept]
    assert (page.rows, page.size) == (len(kept), len(sink.getvalue()))
    assert page.cut == (limit is not None and len(records) > limit)
    assert page.watermark == latest_by_csv_module(kept, header.index("Modified_Time"))


def read_by_csv_module(data: bytes, limit: int | None) -> tuple[int, int, bool, str | None] | None:
    """What reading ``data`` whole with the csv module gives: the rows kept, their bytes, the cut, the watermark;
    None where it refuses the CSV."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline="\n"))
    try:
        header = next(reader, None)
        if header is None:
            return None
        at = header.index("Modified_Time") if "Modified_Time" in header else None
        rows, kept_lines, latest, cut = 0, reader.line_num, None, False
        for record in reader:
            if limit is not None and rows == limit:
                cut = True
                break
            rows, kept_lines = rows + 1, reader.line_num
            if at is not None and at < len(record) and _later(record[at], latest):
                latest = record[at]
    except csv.Error:
        return None
    kept = min(len(data), sum(len(line) + 1 for line in data.split(b"\n")[:kept_lines])) if cut else len(data)
    return rows, kept, cut, latest


csv_pieces = st.sampled_from(["a", "7", ",", '"', '""', "\n", "\r\n", "\r", " ", "é", "2026-01-01T00:00:00Z"])


@settings(max_examples=300, deadline=None)
@given(
    body=st.lists(csv_pieces, max_size=40).map("".join),
    limit=st.none() | st.integers(min_value=0, max_value=6),
    block_bytes=st.integers(min_value=1, max_value=24),
)
def test_any_text_even_malformed_is_read_as_the_csv_module_reads_it_whole(
    body: str, limit: int | None, block_bytes: int
) -> None:
    """Stray quotes, lone carriage returns, ragged lines: read in blocks, a page is what the csv module makes of
    the whole text, or refused where it refuses it."""
    data = ("id,Modified_Time\n" + body).encode()
    expected = read_by_csv_module(data, limit)
    sink = io.BytesIO()
    try:
        page = stage_csv(io.BytesIO(data), sink, max_bytes=len(data), max_rows=limit, block_bytes=block_bytes)
    except ExportProblem:
        assert expected is None
        return
    assert expected is not None
    assert (page.rows, page.size, page.cut, page.watermark) == expected
    assert sink.getvalue() == data[: page.size]


def test_a_block_of_one_offset_finds_the_latest_by_text_and_mixed_offsets_by_moment() -> None:
    lines = [
        "id,Modified_Time",
        "1,2026-03-08T01:30:00-05:00",  # 06:30Z
        "2,2026-03-08T03:10:00-04:00",  # 07:10Z: the latest, though not the largest text
        "3,2026-03-08T03:05:00-04:00",
    ]
    data = "\n".join(lines).encode() + b"\n"
    page = stage_csv(io.BytesIO(data), io.BytesIO(), max_bytes=len(data), max_rows=None, block_bytes=40)
    assert (page.rows, page.watermark) == (3, "2026-03-08T03:10:00-04:00")
    one_offset = "\n".join(lines[:1] + [f"{n},2026-0{n}-01T00:00:00+05:30" for n in (3, 9, 1)]).encode() + b"\n"
    page = stage_csv(io.BytesIO(one_offset), io.BytesIO(), max_bytes=len(one_offset), max_rows=None, block_bytes=30)
    assert page.watermark == "2026-09-01T00:00:00+05:30"


# A local path, and a URI: an ObjectStoragePath, written through its file system (copied, moved with fs.mv).
DESTINATIONS = pytest.mark.parametrize("uri", [False, True], ids=["local path", "ObjectStoragePath URI"])


def destination_of(tmp_path: Path, uri: bool, *parts: str) -> Destination:
    path = tmp_path.joinpath(*parts)
    return Destination(path.as_uri() if uri else str(path))


@DESTINATIONS
def test_the_destination_is_written_once_from_its_pages_the_header_once(tmp_path: Path, uri: bool) -> None:
    out = destination_of(tmp_path, uri, "out", "contacts.csv")
    assert out.is_local is not uri
    header = b"id,Name\n"
    for number, body in ((1, b"1,a\n2,b\n"), (2, b"3,c\n")):
        local = tmp_path / f"local-{number}.csv"
        local.write_bytes(header + body)
        out.stage(local, number)
    assert not out.path.exists()  # staged beside it, nothing at the destination yet
    size = out.write([(out.page(1), 0), (out.page(2), len(header))])
    assert out.path.read_bytes() == b"id,Name\n1,a\n2,b\n3,c\n"
    assert size == len(out.path.read_bytes())
    out.clean()
    assert not out.staging.exists()


@DESTINATIONS
def test_a_single_page_is_moved_to_the_destination_not_copied(tmp_path: Path, uri: bool) -> None:
    out = destination_of(tmp_path, uri, "out", "contacts.csv")
    local = tmp_path / "local.csv"
    local.write_bytes(b"id,Name\n1,a\n")
    out.stage(local, 1)
    assert out.write([(out.page(1), 0)]) == 12
    assert out.path.read_bytes() == b"id,Name\n1,a\n"
    assert not out.page(1).exists()  # it became the destination
    assert not (out.staging / "joined.partial").exists()


def test_a_write_that_fails_leaves_nothing_at_the_destination(tmp_path: Path) -> None:
    out = Destination(str(tmp_path / "contacts.csv"))
    local = tmp_path / "local.csv"
    local.write_bytes(b"id\n1\n")
    out.stage(local, 1)
    with pytest.raises(FileNotFoundError):
        out.write([(out.page(1), 0), (out.page(2), 3)])  # page 2 was never staged
    assert not out.path.exists()
    assert out.page(1).exists()  # kept for a retry
