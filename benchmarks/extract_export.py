"""Exporting CRM records: ZohoCRMBulkReadOperator's peak RSS and CPU per MB written, beside a bare download.

The emulator (``python -m airflow_provider_zoho.testing``) runs in its own process and builds each page's result
zip there, so neither its CPU nor its memory is in the figures. For each size (100,000 and 1,000,000 Contacts,
seeded through ``POST /__emulator__/crm_records``; 200,000 records a page, so 1 and 5 pages):

* **the operator**: a fresh ``python`` process (this module with ``--worker operator``) builds a
  ``ZohoCRMBulkReadOperator`` (every field, poke mode, a local destination) and runs ``execute`` with a plain
  ``{"ti": ..., "task_state_store": ...}`` context: create, wait, download, check, stage, join, move, for every
  page. CPU is the process's user + system time over ``execute`` (all threads); peak RSS is the process's
  lifetime high-water mark (``getrusage(RUSAGE_SELF).ru_maxrss``), and its growth over the resident set before
  ``execute`` (after imports).
* **the floor**: another fresh process (``--worker floor``) downloads the first page's result of that same
  export (the same zip, by its job id) with a bare ``requests`` GET streamed to disk in 1 MiB chunks, then
  ``zipfile`` extracts it. No hook, no checks, no CSV parsing, no staging. What any export must spend.

CPU per MB is CPU seconds per MiB of CSV written (the operator: the destination's size; the floor: the CSV it
extracted). Bars: the operator's peak RSS at 1,000,000 records within 16 MB of its peak at 100,000 (flat in the
export's size), and its CPU per MB at most 1.5x the floor's at each size.

    python -m benchmarks.extract_export [--sizes 100000 1000000] [--profile FILE]

``--profile FILE`` writes a cProfile (CPU time) of the operator's run at the largest size and prints its top
entries; that run's figures then include the profiler's overhead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_zoho.testing import ZohoEmulator, airflow_connection_json
from benchmarks.triggerer_scale import (
    Bar,
    _proc_status_kb,
    access_tokens,
    admin,
    bar_lines,
    emulator_process,
    ratio,
    run_logged,
    table,
)

SIZES: tuple[int, ...] = (100_000, 1_000_000)
PER_PAGE = 200_000  # the records of one bulk read page (Zoho's, and the emulator's)
RSS_FLAT_MB = 16.0  # the largest export's peak RSS within this of the smallest's
FLOOR_RATIO_BAR = 1.5  # the operator's CPU per MB / the floor's
MIB = 1024 * 1024
CHUNK_BYTES = MIB  # the floor's download chunks
READ_PATH = "/crm/bulk/v8/read"
MODULE = "Contacts"
CONN_VARIABLE = "AIRFLOW_CONN_ZOHO_DEFAULT"


# -- the measured processes -----------------------------------------------------------------------------------
class _TaskInstance:
    """What the operator uses of a task instance: its XCom pushes (kept) and pulls of its own keys."""

    map_index = -1

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []
        self.stats_tags: dict[str, str] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        return next((value for pushed_key, value in reversed(self.pushed) if pushed_key == key), None)


class _StateStore:
    """Airflow 3.3's ``task_state_store`` as the operator uses it (refusing None, as Airflow's does)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure_operator(profile: str | None) -> dict[str, Any]:
    """Run the export in this process and measure it: the body of ``--worker operator``."""
    from airflow_provider_zoho.operators import ZohoCRMBulkReadOperator

    with tempfile.TemporaryDirectory(prefix="zoho-bench-export-") as work:
        destination = Path(work) / "lake" / "contacts.csv"
        operator = ZohoCRMBulkReadOperator(
            task_id="bench_export",
            module=MODULE,
            destination=str(destination),
            deferrable=False,
            poll_interval=0.05,
            timeout=1800,
        )
        context = {"ti": _TaskInstance(), "task_state_store": _StateStore()}
        baseline_mb = _proc_status_kb("VmRSS") / 1024
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile(time.process_time)  # CPU time: a wait for the emulator costs nothing
            profiler.enable()
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        summary = operator.execute(context)  # type: ignore[arg-type]
        wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        size = destination.stat().st_size
    peak_mb = _peak_rss_mb()
    return {
        "cpu": cpu,
        "wall": wall,
        "bytes": size,
        "summary_bytes": summary["bytes"],
        "records": summary["records"],
        "pages": summary["pages"],
        "job_ids": summary["job_ids"],
        "baseline_rss_mb": baseline_mb,
        "peak_rss_mb": peak_mb,
    }


def measure_floor(url: str, token: str) -> dict[str, Any]:
    """Download one result zip with bare ``requests`` and extract it: the body of ``--worker floor``."""
    import zipfile

    import requests

    session = requests.Session()
    session.trust_env = False  # 127.0.0.1: never through a proxy, no ~/.netrc
    headers = {"Authorization": f"Zoho-oauthtoken {token}"}
    with tempfile.TemporaryDirectory(prefix="zoho-bench-floor-") as work:
        zip_path = Path(work) / "result.zip"
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        with session.get(url, headers=headers, stream=True, timeout=600) as response:
            response.raise_for_status()
            with zip_path.open("wb") as sink:
                for chunk in response.iter_content(CHUNK_BYTES):
                    sink.write(chunk)
        with zipfile.ZipFile(zip_path) as archive:
            [member] = archive.infolist()
            extracted = Path(archive.extract(member, Path(work) / "out"))
        wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
        zip_size, csv_size = zip_path.stat().st_size, extracted.stat().st_size
    return {"cpu": cpu, "wall": wall, "zip_bytes": zip_size, "bytes": csv_size, "peak_rss_mb": _peak_rss_mb()}


# -- the driver -------------------------------------------------------------------------------------------------
def _worker(args: Sequence[str], env: dict[str, str], what: str) -> dict[str, Any]:
    result, _ = run_logged([sys.executable, "-m", "benchmarks.extract_export", "--worker", *args], env, what)
    return dict(result)


def run_size(base_url: str, records: int, env: dict[str, str], profile: str | None) -> dict[str, Any]:
    """Seed ``records`` Contacts, export them in a fresh process, then download the first page bare in another."""
    admin(base_url, "/__emulator__/crm_records", payload={"module": MODULE, "count": records, "replace": True})
    admin(base_url, "/__emulator__/crm_bulk_read", payload={"reset_downloads": True})  # 10 downloads a minute
    operator = _worker(["operator", *(["--profile", profile] if profile else [])], env, f"the {records:,} export")
    admin(base_url, "/__emulator__/crm_bulk_read", payload={"reset_downloads": True})
    [token] = access_tokens(base_url, [ZohoEmulator.DEFAULT_CLIENT])
    url = f"{base_url}{READ_PATH}/{operator['job_ids'][0]}/result"
    floor = _worker(["floor", "--url", url, "--token", token], env, f"the {records:,} floor")
    return {"records": records, "operator": operator, "floor": floor}


def _cpu_ms_per_mb(measured: dict[str, Any]) -> float:
    return float(measured["cpu"]) * 1000 / (float(measured["bytes"]) / MIB)


def report(runs: Sequence[dict[str, Any]]) -> tuple[str, list[Bar], list[str]]:
    """The table, the bars and the exports that wrote the wrong number of records or pages."""
    header = (
        "records",
        "pages",
        "CSV written (MB)",
        "wall (s)",
        "CPU (s)",
        "CPU/MB (ms)",
        "floor: CSV (MB)",
        "floor: zip (MB)",
        "floor: CPU (s)",
        "floor: CPU/MB (ms)",
        "vs floor",
        "peak RSS (MB)",
        "RSS growth (MB)",
        "floor: peak RSS (MB)",
    )
    rows = []
    bars: list[Bar] = []
    wrong: list[str] = []
    for run in runs:
        op, floor, n = run["operator"], run["floor"], run["records"]
        rows.append(
            (
                f"{n:,}",
                str(op["pages"]),
                f"{op['bytes'] / MIB:.1f}",
                f"{op['wall']:.1f}",
                f"{op['cpu']:.2f}",
                f"{_cpu_ms_per_mb(op):.1f}",
                f"{floor['bytes'] / MIB:.1f}",
                f"{floor['zip_bytes'] / MIB:.1f}",
                f"{floor['cpu']:.2f}",
                f"{_cpu_ms_per_mb(floor):.1f}",
                ratio(_cpu_ms_per_mb(op), _cpu_ms_per_mb(floor)),
                f"{op['peak_rss_mb']:.0f}",
                f"{op['peak_rss_mb'] - op['baseline_rss_mb']:.1f}",
                f"{floor['peak_rss_mb']:.0f}",
            )
        )
        pages = max(1, math.ceil(n / PER_PAGE))
        if (op["records"], op["pages"], op["summary_bytes"]) != (n, pages, op["bytes"]):
            wrong.append(
                f"{n:,}: wrote {op['records']:,} records in {op['pages']} pages ({op['summary_bytes']:,} bytes "
                f"said, {op['bytes']:,} on disk), expected {n:,} in {pages}"
            )
    base = runs[0]
    for run in runs[1:]:
        change = run["operator"]["peak_rss_mb"] - base["operator"]["peak_rss_mb"]
        bars.append(
            (
                f"{run['records']:,}: peak RSS within {RSS_FLAT_MB:g} MB of {base['records']:,}'s",
                f"{change:+.1f} MB",
                abs(change) <= RSS_FLAT_MB,
            )
        )
    for run in runs:
        times = _cpu_ms_per_mb(run["operator"]) / _cpu_ms_per_mb(run["floor"])
        bars.append(
            (
                f"{run['records']:,}: CPU per MB <= {FLOOR_RATIO_BAR}x the floor",
                f"{times:.2f}x",
                times <= FLOOR_RATIO_BAR,
            )
        )
    every = not wrong
    bars.append(("every record written once, one job per page", "yes" if every else "no", every))
    lines = [
        f"ZohoCRMBulkReadOperator, {MODULE}, every field, {PER_PAGE:,} records a page, poke mode, local destination; "
        f"the floor: the first page's zip by bare requests, then zipfile; {os.cpu_count()} CPUs",
        "",
        *table(header, rows),
        "",
        *bar_lines(bars),
    ]
    return "\n".join(lines), bars, wrong


def profile_lines(path: str, top: int = 20) -> list[str]:
    """The profile's top entries by own CPU time."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(path, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return ["", f"cProfile of the largest export (CPU time, by own time; {path}):", out.getvalue().rstrip()]


def compare(sizes: Sequence[int] = SIZES, profile: str | None = None) -> tuple[str, list[Bar], list[str]]:
    """Every size against one emulator, each export and each floor in a fresh process: table, bars, wrong exports."""
    with emulator_process() as base_url:
        env = {**os.environ, CONN_VARIABLE: airflow_connection_json(base_url, timeout=600)}
        runs = [run_size(base_url, n, env, profile if i == len(sizes) - 1 else None) for i, n in enumerate(sizes)]
    text, bars, wrong = report(runs)
    if profile:
        text += "\n" + "\n".join(profile_lines(profile))
    return text, bars, wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES), metavar="RECORDS")
    parser.add_argument("--profile", help="write a cProfile of the largest export to this file (slows it down)")
    parser.add_argument("--worker", choices=("operator", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "operator":
        print(json.dumps(measure_operator(args.profile)))
        return 0
    if args.worker == "floor":
        print(json.dumps(measure_floor(args.url, args.token)))
        return 0
    if min(args.sizes) < 1:
        parser.error("--sizes must be positive")
    text, bars, wrong = compare(args.sizes, args.profile)
    print(text)
    for line in wrong:
        print("wrong export:", line, file=sys.stderr)
    if not all(met for _, _, met in bars):
        print("(a bar is not met; see the lines marked NO)")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
