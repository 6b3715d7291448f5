"""N deferred Zoho sensors in one triggerer event loop, beside the http provider's trigger and the floor.

Run it as ``make bench`` does (``python -m benchmarks`` runs every section), or on its own::

    .venv/bin/python benchmarks/triggerer_scale.py [--triggers 1000] [--connections 2] [--polls 5]
                                                   [--poll-interval 0.2] [--profile FILE]

Why it is built this way:

* The emulator (``python -m airflow_provider_zoho.testing``) runs in its own process, so its CPU and
  memory never enter the figures. Every figure the server sees (token requests, status requests, most
  sockets open at once, 429s past its concurrency limit) is read from its admin API,
  ``GET /__emulator__/stats``.
* Each workload runs in a fresh worker process (this script with ``--worker``), so CPU seconds and peak
  RSS are that workload's own and one run cannot warm the allocator for the other. Peak RSS growth is
  measured with the kernel's high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) from a
  baseline taken after imports and a connection lookup, i.e. what the N triggers cost on top of a
  triggerer that already runs.
* Triggers are run the way the triggerer runs them: the worker side builds and ``serialize()``\\ s them
  and stores the kwargs as JSON; the measured part decodes the JSON, imports the class path, constructs
  each trigger, and drives all ``run()`` generators concurrently on one loop, calling ``cleanup()`` after.
* The workload is the same for every variant: N jobs over the four kinds and C connections, each
  answering K status polls before it is done. ``HttpSensorTrigger`` cannot read a Zoho job state (it
  fires on the first non-404 answer), so its jobs answer 404 while pending and 200 with the finished job
  once done: the same endpoints, the same number of polls, the same headers, similar bodies. It sends a
  fixed access token from the connection's extra headers, so it makes no token requests at all; the Zoho
  trigger gets its tokens from the accounts endpoint (the bar: one per connection, for any N).
* The floor is what any poller must spend: N tasks on one loop sharing one bare ``aiohttp`` session
  (sockets bounded like ours), each sleeping the same jittered interval, then sending the same GET with
  the same fixed token and decoding the JSON answer, K times. No trigger, no hook, no checks, no logs.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_zoho.connection_config import DEFAULT_MAX_CONCURRENT_REQUESTS
from airflow_provider_zoho.testing import ClientCredentials, airflow_connection_json
from airflow_provider_zoho.testing.kinds import KIND_FACTS
from airflow_provider_zoho.triggers.job import DEFAULT_MAX_BACKOFF_SECONDS, POLL_JITTER

REPO = Path(__file__).resolve().parents[1]
# Airflow reads its home when first imported; keep the benchmark's inside the repo (as the tests do).
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# Kinds, sample coordinates, states to script and a "not found" code per kind come from the per-kind
# test facts (airflow_provider_zoho/testing/kinds.py), shared with the test suite.
KINDS: tuple[str, ...] = tuple(KIND_FACTS)
ZOHO = "zoho"
HTTP = "http"
FLOOR = "floor"
VARIANTS = (ZOHO, HTTP, FLOOR)
_JOB_ID_BASE = {ZOHO: 900_000_000, HTTP: 800_000_000, FLOOR: 700_000_000}
ZOHO_TRIGGER = "airflow_provider_zoho.triggers.job.ZohoJobTrigger"
HTTP_TRIGGER = "airflow.providers.http.triggers.http.HttpSensorTrigger"
# The bar is 30 MB for 1,000 triggers; for larger runs it scales with N, below 1,000 it stays 30.
PEAK_RSS_BAR_MB_PER_1000 = 30.0
CPU_RATIO_BAR = 0.5  # ours / HttpSensorTrigger
FLOOR_RATIO_BAR = 1.5  # ours / the floor


@dataclass(frozen=True)
class Workload:
    """What one run asks of a poller."""

    triggers: int = 1000
    connections: int = 2
    polls: int = 5
    poll_interval: float = 0.2
    # Seconds the emulator takes over each "still running" answer after a job's first (its "slow" fault),
    # so that requests overlap (the concurrency-cap comparison); 0: answered at once.
    answer_delay: float = 0.0
    # The Zoho connections' cap on requests in flight (connection extra ``max_concurrent_requests``); the
    # floor bounds its sockets to the same total.
    max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
    # The trigger's max_backoff: the longest it holds off after a 429 (Zoho's concurrency 429 names no wait).
    max_backoff: float = DEFAULT_MAX_BACKOFF_SECONDS

    @property
    def total_polls(self) -> int:
        """Status polls the workload needs: every job answers ``polls`` times before it is done."""
        return self.triggers * self.polls


# The emulator's own credentials type: a client id, its secret and one of its refresh tokens.
Client = ClientCredentials


@dataclass(frozen=True)
class PlannedJob:
    kind: str
    job_id: str
    connection: int  # index into the workload's clients / connections
    coordinates: dict[str, str | None] = field(default_factory=dict)  # includes job_id


# -- the workload, shared with tests/triggers/test_scale.py and the other benchmarks ------------------------------
def clients(workload: Workload) -> list[Client]:
    """One OAuth client and refresh token per connection, so each connection has its own token budget."""
    return [Client(f"bench-client-{i}", f"bench-secret-{i}", f"bench-refresh-{i}") for i in range(workload.connections)]


def plan_jobs(workload: Workload, variant: str) -> list[PlannedJob]:
    """N jobs, round-robin over the four kinds and the C connections; ids differ per variant."""
    jobs = []
    for number in range(workload.triggers):
        kind = KINDS[number % len(KINDS)]
        job_id = str(_JOB_ID_BASE[variant] + number)
        coordinates = {**KIND_FACTS[kind].all_coordinates, "job_id": job_id}
        jobs.append(PlannedJob(kind, job_id, (number // len(KINDS)) % workload.connections, coordinates))
    return jobs


def job_definitions(jobs: Sequence[PlannedJob], workload: Workload, variant: str) -> list[dict[str, Any]]:
    """The emulator's JSON job definitions (``ZohoEmulator.add_jobs`` / ``POST /__emulator__/jobs``)."""
    definitions = []
    for job in jobs:
        facts = KIND_FACTS[job.kind]
        pending, done = facts.pending, facts.succeeded
        waiting: list[Any]
        if variant == HTTP:
            waiting = [{"fault": "error", "code": facts.not_found_code, "status": 404}] * (workload.polls - 1)
        elif workload.answer_delay and workload.polls > 2:
            # A slow answer repeats the job's current state: the first answer sets it.
            slow = {"fault": "slow", "delay": workload.answer_delay}
            waiting = [pending, *[slow] * (workload.polls - 2)]
        else:
            waiting = [pending] * (workload.polls - 1)
        coordinates = {name: value for name, value in job.coordinates.items() if name != "job_id"}
        definitions.append({"kind": job.kind, "job_id": job.job_id, "script": [*waiting, done], **coordinates})
    return definitions


def zoho_conn_id(index: int) -> str:
    return f"zoho_bench_{index}"


def http_conn_id(index: int) -> str:
    return f"http_bench_{index}"


def zoho_connection_env(
    base_url: str, bench_clients: Sequence[Client], max_concurrent_requests: int = DEFAULT_MAX_CONCURRENT_REQUESTS
) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the Zoho connections, one per client, all pointing at the emulator."""
    return {
        f"AIRFLOW_CONN_{zoho_conn_id(i).upper()}": airflow_connection_json(
            base_url, client, max_concurrent_requests=max_concurrent_requests
        )
        for i, client in enumerate(bench_clients)
    }


def http_connection_env(base_url: str, access_tokens: Sequence[str]) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the http connections (and the floor): a fixed token as a header."""
    return {
        f"AIRFLOW_CONN_{http_conn_id(i).upper()}": json.dumps(
            {
                "conn_type": "http",
                "host": base_url,
                "extra": {"Authorization": f"Zoho-oauthtoken {token}", "Accept": "application/json"},
            }
        )
        for i, token in enumerate(access_tokens)
    }


def serialized_triggers(jobs: Sequence[PlannedJob], workload: Workload, variant: str) -> list[str]:
    """What the worker stores in the database when each sensor defers: class path and kwargs, as JSON."""
    if variant == ZOHO:
        from airflow_provider_zoho.triggers.job import ZohoJobTrigger

        end_time = time.time() + 3600
        triggers: list[Any] = [
            ZohoJobTrigger(
                kind=job.kind,
                coordinates=job.coordinates,
                end_time=end_time,
                zoho_conn_id=zoho_conn_id(job.connection),
                poll_interval=workload.poll_interval,
                max_backoff=workload.max_backoff,
                # What the sensor saw and logged as it deferred: its pre-deferral poll is not in the workload.
                logged_state=KIND_FACTS[job.kind].pending,
            )
            for job in jobs
        ]
    else:
        from airflow.providers.http.triggers.http import HttpSensorTrigger

        from airflow_provider_zoho.jobs import get_job_kind

        triggers = []
        for job in jobs:
            kind = get_job_kind(job.kind)
            triggers.append(
                HttpSensorTrigger(
                    endpoint=kind.url_path(job.coordinates),
                    http_conn_id=http_conn_id(job.connection),
                    method="GET",
                    headers=kind.request_headers(job.coordinates) or None,
                    poke_interval=workload.poll_interval,
                )
            )
    return [json.dumps(trigger.serialize()) for trigger in triggers]


async def run_serialized(stored: Sequence[str]) -> list[Any]:
    """The triggerer's part: decode, import, construct, then run every trigger concurrently on this loop.

    Returns each trigger's first event payload (``None`` if one ended without an event).
    """
    import asyncio

    from airflow.providers.common.compat.module_loading import import_string

    from airflow_provider_zoho.hooks.zoho_async import close_shared_session

    async def run_one(text: str) -> Any:
        classpath, kwargs = json.loads(text)
        trigger = import_string(classpath)(**kwargs)
        try:
            async for event in trigger.run():
                return event.payload
            return None
        finally:
            await trigger.cleanup()

    try:
        return list(await asyncio.gather(*(run_one(text) for text in stored)))
    finally:
        await close_shared_session()


def floor_requests(jobs: Sequence[PlannedJob]) -> list[tuple[str, dict[str, str]]]:
    """The floor's GETs: each job's status URL and headers, with the http connections' fixed token."""
    from airflow_provider_zoho.jobs import get_job_kind

    connections = {
        job.connection: json.loads(os.environ[f"AIRFLOW_CONN_{http_conn_id(job.connection).upper()}"]) for job in jobs
    }
    requests = []
    for job in jobs:
        kind, connection = get_job_kind(job.kind), connections[job.connection]
        url = connection["host"] + kind.url_path(job.coordinates)
        requests.append((url, {**connection["extra"], **kind.request_headers(job.coordinates)}))
    return requests


async def run_floor(requests: Sequence[tuple[str, Mapping[str, str]]], workload: Workload) -> list[Any]:
    """The floor: each job polled K times through one bare shared session; the last decoded answers."""
    import asyncio
    import random

    import aiohttp

    sockets = workload.max_concurrent_requests * workload.connections
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=sockets)) as session:

        async def poll(url: str, headers: Mapping[str, str]) -> Any:
            body = None
            for _ in range(workload.polls):
                await asyncio.sleep(workload.poll_interval * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER))
                async with session.get(url, headers=headers) as response:
                    body = json.loads(await response.read())
            return body

        return list(await asyncio.gather(*(poll(url, headers) for url, headers in requests)))


def wrong_events(jobs: Sequence[PlannedJob], payloads: Sequence[Any], variant: str) -> list[str]:
    """One line per poller whose outcome is not the expected one (success for the job it watched)."""
    from airflow_provider_zoho.jobs import Phase, get_job_kind, read_job_status

    wrong = []
    for job, payload in zip(jobs, payloads, strict=True):
        if variant == ZOHO:
            summary = payload.get("summary") if isinstance(payload, dict) else None
            right = (
                isinstance(summary, dict)
                and payload.get("status") == "success"
                and summary.get("job_id") == job.job_id
                and summary.get("kind") == job.kind
            )
        elif variant == FLOOR:
            right = read_job_status(get_job_kind(job.kind), job.job_id, payload).phase is Phase.SUCCEEDED
        else:
            right = payload is True
        if not right:
            wrong.append(f"{variant} {job.kind} {job.job_id}: {payload!r}"[:300])
    return wrong


# -- measuring one workload (worker process) ------------------------------------------------------------
def _proc_status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{name} not in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS (Linux); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class FullCollections:
    """A ``gc.callbacks`` entry that counts the collector's full sweeps (generation 2) and their CPU time:
    each walks every live object, so their cost grows with the number of triggers alive."""

    def __init__(self) -> None:
        self.runs, self.cpu, self._started = 0, 0.0, 0.0

    def __call__(self, phase: str, info: Mapping[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.process_time()
        else:
            self.runs += 1
            self.cpu += time.process_time() - self._started


def measure_worker(variant: str, workload: Workload, profile: str | None) -> dict[str, Any]:
    """Run one workload in this process and measure it: the body of ``--worker``."""
    import asyncio

    import aiohttp

    from airflow_provider_zoho.compat import get_async_connection

    jobs = plan_jobs(workload, variant)
    # Built now, run once measuring starts: the floor's requests, or the triggers as the database holds them.
    if variant == FLOOR:
        measured = run_floor(floor_requests(jobs), workload)
    else:
        measured = run_serialized(serialized_triggers(jobs, workload, variant))
    conn_ids = [(zoho_conn_id if variant == ZOHO else http_conn_id)(i) for i in range(workload.connections)]

    async def warm_up() -> None:  # what a running triggerer has already loaded: connection lookup code
        for conn_id in conn_ids:
            await get_async_connection(conn_id)
        async with aiohttp.ClientSession():
            pass

    asyncio.run(warm_up())
    gc.collect()
    full_gc = FullCollections()
    gc.callbacks.append(full_gc)
    baseline_kb = _proc_status_kb("VmRSS")
    exact_peak = _reset_peak_rss()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: a wait in epoll costs nothing
        profiler.enable()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    payloads = asyncio.run(measured)
    wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
    gc.callbacks.remove(full_gc)
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_kb = _proc_status_kb("VmHWM")  # without clear_refs: the process's lifetime peak (an upper bound)
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_growth_mb": max(0, peak_kb - baseline_kb) / 1024,
        "exact_peak": exact_peak,
        "full_gcs": full_gc.runs,
        "full_gc_cpu": full_gc.cpu,
        "wrong": wrong_events(jobs, payloads, variant),
    }


# -- the emulator process and its admin API -------------------------------------------------------------
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only: never via a proxy


def admin(base_url: str, path: str, payload: Any = None, form: Mapping[str, str] | None = None) -> Any:
    """One call to the emulator (its admin API under ``/__emulator__`` or its token endpoint)."""
    data, headers = None, {}
    if payload is not None:
        data, headers = json.dumps(payload).encode(), {"Content-Type": "application/json"}
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(base_url + path, data=data, headers=headers, method="POST" if data else "GET")
    with _OPENER.open(request, timeout=120) as response:
        return json.loads(response.read())


def access_tokens(base_url: str, bench_clients: Sequence[Client]) -> list[str]:
    """One access token per client, fetched before the measured run, for the http connections' headers."""
    return [
        admin(base_url, "/oauth/v2/token", form={"grant_type": "refresh_token", **client._asdict()})["access_token"]
        for client in bench_clients
    ]


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    """Start ``python -m airflow_provider_zoho.testing`` on 127.0.0.1; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_zoho.testing", "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ZOHO_EMULATOR_URL="):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield line.strip().split("=", 1)[1]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def connection_env(base_url: str, workload: Workload) -> dict[str, str]:
    """Register the workload's clients with the emulator; the connections every variant needs."""
    bench_clients = clients(workload)
    admin(base_url, "/__emulator__/clients", payload=[client._asdict() for client in bench_clients])
    return {
        **zoho_connection_env(base_url, bench_clients, workload.max_concurrent_requests),
        **http_connection_env(base_url, access_tokens(base_url, bench_clients)),
    }


def run_logged(
    command: Sequence[str], env: Mapping[str, str], what: str, timeout: float | None = None
) -> tuple[Any, int]:
    """Run ``command`` in a fresh interpreter: the JSON of its last stdout line, and how many lines it logged.

    Its stderr goes to a file, not to this benchmark's output. Airflow's structlog writes the triggers' log
    lines to stdout, logging to stderr; the last stdout line is the command's own answer.
    """
    with tempfile.TemporaryFile("w+") as log:
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True, timeout=timeout)
        log.seek(0)
        logged = log.read()
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{logged[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), logged.count("\n") + done.stdout.count("\n") - 1


def _run_worker(variant: str, workload: Workload, env: Mapping[str, str], profile: str | None) -> dict[str, Any]:
    """Run ``--worker variant`` in a fresh interpreter."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        "--workload",
        json.dumps(dataclasses.asdict(workload)),
    ]
    if profile:
        command += ["--profile", profile]
    result, log_lines = run_logged(command, {**os.environ, **env}, f"{variant} worker")
    return {**result, "log_lines": log_lines}


@dataclass
class Result:
    wall: float
    cpu: float
    rss_growth_mb: float
    token_requests: int
    status_requests: int
    polls: int
    max_sockets: int
    max_in_flight: int  # the most status GETs of one client the emulator was answering at once
    over_concurrency: int  # status GETs the emulator answered 429 for passing its concurrency limit
    log_lines: int
    wrong: list[str]
    exact_peak: bool
    full_gcs: int  # the collector's full sweeps during the run
    full_gc_cpu: float  # and the CPU seconds they took

    @property
    def full_gc_us_per_poll(self) -> float:
        return self.full_gc_cpu / self.polls * 1e6

    @property
    def cpu_us_per_poll(self) -> float:
        return self.cpu / self.polls * 1e6


def run_variant(
    variant: str, workload: Workload, base_url: str, env: Mapping[str, str], profile: str | None = None
) -> Result:
    """Register the variant's jobs (scripts from their start), zero the counters, run and measure it."""
    admin(base_url, "/__emulator__/jobs", payload=job_definitions(plan_jobs(workload, variant), workload, variant))
    admin(base_url, "/__emulator__/reset_counters", payload={})
    measured = _run_worker(variant, workload, env, profile)
    stats = admin(base_url, "/__emulator__/stats")
    return Result(
        wall=measured["wall"],
        cpu=measured["cpu"],
        rss_growth_mb=measured["rss_growth_mb"],
        token_requests=stats["token_requests"],
        status_requests=stats["status_requests"],
        polls=workload.total_polls,
        max_sockets=stats["max_concurrent_connections"],
        max_in_flight=stats["max_in_flight"],
        over_concurrency=stats["over_concurrency"],
        log_lines=measured["log_lines"],
        wrong=measured["wrong"],
        exact_peak=measured["exact_peak"],
        full_gcs=measured["full_gcs"],
        full_gc_cpu=measured["full_gc_cpu"],
    )


def versions() -> str:
    from importlib.metadata import version

    return (
        f"Python {platform.python_version()}, Airflow {version('apache-airflow')}, "
        f"apache-airflow-providers-http {version('apache-airflow-providers-http')}, {os.cpu_count()} CPUs"
    )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Right-aligned columns after a left-aligned first one."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)).rstrip()
        for row in (header, *rows)
    ]


Bar = tuple[str, str, bool]  # what is asked, what was measured, whether it was met


def bar_lines(bars: Sequence[Bar]) -> list[str]:
    return table(("bar", "measured", "met"), [(name, value, "yes" if met else "NO") for name, value, met in bars])


def report(workload: Workload, zoho: Result, http: Result, floor: Result) -> tuple[str, list[Bar]]:
    """The table and the bars of the three-way comparison."""
    results = (zoho, http, floor)
    rows = [
        (
            "wall time (s)",
            *(f"{r.wall:.2f}" for r in results),
            ratio(zoho.wall, http.wall),
            ratio(zoho.wall, floor.wall),
        ),
        ("CPU (s)", *(f"{r.cpu:.2f}" for r in results), ratio(zoho.cpu, http.cpu), ratio(zoho.cpu, floor.cpu)),
        (
            "CPU per poll (us)",
            *(f"{r.cpu_us_per_poll:.0f}" for r in results),
            ratio(zoho.cpu_us_per_poll, http.cpu_us_per_poll),
            ratio(zoho.cpu_us_per_poll, floor.cpu_us_per_poll),
        ),
        (
            "peak RSS growth (MB)",
            *(f"{r.rss_growth_mb:.1f}" for r in results),
            ratio(zoho.rss_growth_mb, http.rss_growth_mb),
            ratio(zoho.rss_growth_mb, floor.rss_growth_mb),
        ),
        ("token requests", str(zoho.token_requests), "0 (fixed token)", "0 (fixed token)", "", ""),
        ("status requests", *(str(r.status_requests) for r in results), "", ""),
        ("polls", *(str(r.polls) for r in results), "", ""),
        ("max sockets open at once", *(str(r.max_sockets) for r in results), "", ""),
        ("log lines", *(str(r.log_lines) for r in results), "", ""),
        ("right events", *(f"{workload.triggers - len(r.wrong)}/{workload.triggers}" for r in results), "", ""),
    ]
    rss_bar = PEAK_RSS_BAR_MB_PER_1000 * max(1.0, workload.triggers / 1000)
    http_ratio = zoho.cpu_us_per_poll / http.cpu_us_per_poll if http.cpu_us_per_poll else float("inf")
    floor_ratio = zoho.cpu_us_per_poll / floor.cpu_us_per_poll if floor.cpu_us_per_poll else float("inf")
    sockets = workload.max_concurrent_requests * workload.connections
    bars: list[Bar] = [
        (
            f"token requests == connections ({workload.connections})",
            str(zoho.token_requests),
            zoho.token_requests == workload.connections,
        ),
        (f"status requests == polls ({zoho.polls})", str(zoho.status_requests), zoho.status_requests == zoho.polls),
        (f"CPU per poll <= {CPU_RATIO_BAR}x HttpSensorTrigger", f"{http_ratio:.2f}x", http_ratio <= CPU_RATIO_BAR),
        (f"CPU per poll <= {FLOOR_RATIO_BAR}x the floor", f"{floor_ratio:.2f}x", floor_ratio <= FLOOR_RATIO_BAR),
        (
            f"peak RSS growth <= {rss_bar:.0f} MB ({workload.triggers} triggers)",
            f"{zoho.rss_growth_mb:.1f} MB",
            zoho.rss_growth_mb <= rss_bar,
        ),
        (
            f"sockets open at once <= request cap x connections ({sockets})",
            str(zoho.max_sockets),
            zoho.max_sockets <= sockets,
        ),
    ]
    lines = [
        f"{workload.triggers} triggers, {workload.connections} connections, {workload.polls} polls each, "
        f"poll interval {workload.poll_interval} s; {versions()}",
        "",
        *table(("", "ZohoJobTrigger", "HttpSensorTrigger", "floor", "Zoho/HTTP", "Zoho/floor"), rows),
        "",
        *bar_lines(bars),
    ]
    if not all(r.exact_peak for r in results):
        lines.append("(peak RSS is the process's lifetime peak: /proc/self/clear_refs was not writable)")
    return "\n".join(lines), bars


def compare(workload: Workload, profile: str | None = None) -> tuple[str, list[Bar], list[str]]:
    """Ours, HttpSensorTrigger and the floor on one emulator, one after the other: table, bars, wrong events."""
    with emulator_process() as base_url:
        env = connection_env(base_url, workload)
        zoho, http, floor = (
            run_variant(variant, workload, base_url, env, profile if variant == ZOHO else None) for variant in VARIANTS
        )
    text, bars = report(workload, zoho, http, floor)
    return text, bars, zoho.wrong + http.wrong + floor.wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=Workload.triggers)
    parser.add_argument("--connections", type=int, default=Workload.connections)
    parser.add_argument("--polls", type=int, default=Workload.polls)
    parser.add_argument("--poll-interval", type=float, default=Workload.poll_interval)
    parser.add_argument("--profile", help="write a cProfile of the Zoho run to this file (slows it down)")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        workload = Workload(**json.loads(args.workload))
        print(json.dumps(measure_worker(args.worker, workload, args.profile)))
        return 0
    if args.triggers < 1 or args.connections < 1 or args.polls < 1 or args.poll_interval <= 0:
        parser.error("--triggers, --connections, --polls and --poll-interval must be positive")
    text, bars, wrong = compare(Workload(args.triggers, args.connections, args.polls, args.poll_interval), args.profile)
    print(text)
    for line in wrong[:20]:
        print("wrong event:", line, file=sys.stderr)
    if wrong:
        print(f"{len(wrong)} pollers ended with the wrong event", file=sys.stderr)
        return 1
    if not all(met for _, _, met in bars):
        print("(the bar is not met; see the lines marked NO)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
