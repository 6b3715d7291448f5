"""N deferred Zoho sensors in one triggerer event loop, side by side with the http provider's trigger.

Run it as ``make bench`` does::

    .venv/bin/python benchmarks/triggerer_scale.py [--triggers 1000] [--connections 2] [--polls 5]
                                                   [--poll-interval 0.2]

Why it is built this way:

* The emulator (``python -m airflow_provider_zoho.testing``) runs in its own process, so its CPU and
  memory never enter the figures. Every figure the server sees (token requests, status requests, most
  sockets open at once) is read from its admin API, ``GET /__emulator__/stats``.
* Each workload runs in a fresh worker process (this script with ``--worker``), so CPU seconds and peak
  RSS are that workload's own and one run cannot warm the allocator for the other. Peak RSS growth is
  measured with the kernel's high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``) from a
  baseline taken after imports and a connection lookup, i.e. what the N triggers cost on top of a
  triggerer that already runs.
* Triggers are run the way the triggerer runs them: the worker side builds and ``serialize()``\\ s them
  and stores the kwargs as JSON; the measured part decodes the JSON, imports the class path, constructs
  each trigger, and drives all ``run()`` generators concurrently on one loop, calling ``cleanup()`` after.
* The workload is the same for both triggers: N jobs over the four kinds and C connections, each
  answering K status polls before it is done. ``HttpSensorTrigger`` cannot read a Zoho job state (it
  fires on the first non-404 answer), so its jobs answer 404 while pending and 200 with the finished job
  once done: the same endpoints, the same number of polls, the same headers, similar bodies. It sends a
  fixed access token from the connection's extra headers, so it makes no token requests at all; the Zoho
  trigger gets its tokens from the accounts endpoint (the bar: one per connection, for any N).
"""

from __future__ import annotations

import argparse
import contextlib
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

from airflow_provider_zoho.testing import ClientCredentials, airflow_connection_json
from airflow_provider_zoho.testing.kinds import KIND_FACTS

REPO = Path(__file__).resolve().parents[1]
# Airflow reads its home when first imported; keep the benchmark's inside the repo (as the tests do).
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

# Kinds, sample coordinates, states to script and a "not found" code per kind come from the per-kind
# test facts (airflow_provider_zoho/testing/kinds.py), shared with the test suite.
KINDS: tuple[str, ...] = tuple(KIND_FACTS)
ZOHO = "zoho"
HTTP = "http"
ZOHO_TRIGGER = "airflow_provider_zoho.triggers.job.ZohoJobTrigger"
HTTP_TRIGGER = "airflow.providers.http.triggers.http.HttpSensorTrigger"
# The bar is 30 MB for 1,000 triggers; for larger runs it scales with N, below 1,000 it stays 30.
PEAK_RSS_BAR_MB_PER_1000 = 30.0
CPU_RATIO_BAR = 0.5


@dataclass(frozen=True)
class Workload:
    """What one run asks of a trigger implementation."""

    triggers: int = 1000
    connections: int = 2
    polls: int = 5
    poll_interval: float = 0.2

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


# -- the workload, shared with tests/test_scale.py ------------------------------------------------------
def clients(workload: Workload) -> list[Client]:
    """One OAuth client and refresh token per connection, so each connection has its own token budget."""
    return [Client(f"bench-client-{i}", f"bench-secret-{i}", f"bench-refresh-{i}") for i in range(workload.connections)]


def plan_jobs(workload: Workload, variant: str) -> list[PlannedJob]:
    """N jobs, round-robin over the four kinds and the C connections; ids differ per variant."""
    base = 900_000_000 if variant == ZOHO else 800_000_000
    jobs = []
    for number in range(workload.triggers):
        kind = KINDS[number % len(KINDS)]
        job_id = str(base + number)
        coordinates = {**KIND_FACTS[kind].all_coordinates, "job_id": job_id}
        jobs.append(PlannedJob(kind, job_id, (number // len(KINDS)) % workload.connections, coordinates))
    return jobs


def job_definitions(jobs: Sequence[PlannedJob], workload: Workload, variant: str) -> list[dict[str, Any]]:
    """The emulator's JSON job definitions (``ZohoEmulator.add_jobs`` / ``POST /__emulator__/jobs``)."""
    definitions = []
    for job in jobs:
        facts = KIND_FACTS[job.kind]
        pending, done = facts.pending, facts.succeeded
        if variant == ZOHO:
            waiting: list[Any] = [pending] * (workload.polls - 1)
        else:
            waiting = [{"fault": "error", "code": facts.not_found_code, "status": 404}] * (workload.polls - 1)
        coordinates = {name: value for name, value in job.coordinates.items() if name != "job_id"}
        definitions.append({"kind": job.kind, "job_id": job.job_id, "script": [*waiting, done], **coordinates})
    return definitions


def zoho_conn_id(index: int) -> str:
    return f"zoho_bench_{index}"


def http_conn_id(index: int) -> str:
    return f"http_bench_{index}"


def zoho_connection_env(base_url: str, bench_clients: Sequence[Client]) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the Zoho connections, one per client, all pointing at the emulator."""
    return {
        f"AIRFLOW_CONN_{zoho_conn_id(i).upper()}": airflow_connection_json(base_url, client)
        for i, client in enumerate(bench_clients)
    }


def http_connection_env(base_url: str, access_tokens: Sequence[str]) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the http connections: a fixed token as an extra header."""
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


def wrong_events(jobs: Sequence[PlannedJob], payloads: Sequence[Any], variant: str) -> list[str]:
    """One line per trigger whose event is not the expected one (success for the job it watched)."""
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


def measure_worker(variant: str, workload: Workload, profile: str | None) -> dict[str, Any]:
    """Run one workload in this process and measure it: the body of ``--worker``."""
    import asyncio

    from airflow_provider_zoho.compat import get_async_connection

    jobs = plan_jobs(workload, variant)
    stored = serialized_triggers(jobs, workload, variant)
    conn_ids = [(zoho_conn_id if variant == ZOHO else http_conn_id)(i) for i in range(workload.connections)]

    async def warm_up() -> None:  # what a running triggerer has already loaded: connection lookup code
        for conn_id in conn_ids:
            await get_async_connection(conn_id)

    asyncio.run(warm_up())
    gc.collect()
    baseline_kb = _proc_status_kb("VmRSS")
    exact_peak = _reset_peak_rss()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    payloads = asyncio.run(run_serialized(stored))
    wall, cpu = time.perf_counter() - wall_started, time.process_time() - cpu_started
    if profiler is not None and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_kb = _proc_status_kb("VmHWM")  # without clear_refs: the process's lifetime peak (an upper bound)
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_growth_mb": max(0, peak_kb - baseline_kb) / 1024,
        "exact_peak": exact_peak,
        "wrong": wrong_events(jobs, payloads, variant),
    }


# -- the emulator process and its admin API -------------------------------------------------------------
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only: never via a proxy


def _request(url: str, payload: Any = None, form: Mapping[str, str] | None = None) -> Any:
    data, headers = None, {}
    if payload is not None:
        data, headers = json.dumps(payload).encode(), {"Content-Type": "application/json"}
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with _OPENER.open(request, timeout=60) as response:
        return json.loads(response.read())


def access_tokens(base_url: str, bench_clients: Sequence[Client]) -> list[str]:
    """One access token per client, fetched before the measured run, for the http connections' headers."""
    return [
        _request(base_url + "/oauth/v2/token", form={"grant_type": "refresh_token", **client._asdict()})["access_token"]
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


def _run_worker(variant: str, workload: Workload, env: Mapping[str, str], profile: str | None) -> dict[str, Any]:
    """Run ``--worker variant`` in a fresh interpreter; its stderr (the triggers' logs) goes to a file."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        "--triggers",
        str(workload.triggers),
        "--connections",
        str(workload.connections),
        "--polls",
        str(workload.polls),
        "--poll-interval",
        str(workload.poll_interval),
    ]
    if profile:
        command += ["--profile", profile]
    with tempfile.TemporaryFile("w+") as log:
        done = subprocess.run(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=log, text=True)
        if done.returncode != 0:
            log.seek(0)
            raise RuntimeError(f"{variant} worker failed ({done.returncode}):\n{log.read()[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Result:
    wall: float
    cpu: float
    rss_growth_mb: float
    token_requests: int
    status_requests: int
    polls: int
    max_sockets: int
    wrong: list[str]
    exact_peak: bool

    @property
    def cpu_us_per_poll(self) -> float:
        return self.cpu / self.polls * 1e6


def run_variant(
    variant: str, workload: Workload, base_url: str, env: Mapping[str, str], profile: str | None = None
) -> Result:
    _request(base_url + "/__emulator__/reset_counters", payload={})
    measured = _run_worker(variant, workload, env, profile)
    stats = _request(base_url + "/__emulator__/stats")
    return Result(
        wall=measured["wall"],
        cpu=measured["cpu"],
        rss_growth_mb=measured["rss_growth_mb"],
        token_requests=stats["token_requests"],
        status_requests=stats["status_requests"],
        polls=workload.total_polls,
        max_sockets=stats["max_concurrent_connections"],
        wrong=measured["wrong"],
        exact_peak=measured["exact_peak"],
    )


def _versions() -> str:
    from importlib.metadata import version

    return (
        f"Python {platform.python_version()}, Airflow {version('apache-airflow')}, "
        f"apache-airflow-providers-http {version('apache-airflow-providers-http')}, {os.cpu_count()} CPUs"
    )


def report(workload: Workload, zoho: Result, http: Result, pool_bound: int) -> tuple[str, bool]:
    """The table, the bar lines, and whether every bar line is met."""

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "n/a"

    rows = [
        ("wall time (s)", f"{zoho.wall:.2f}", f"{http.wall:.2f}", ratio(zoho.wall, http.wall)),
        ("CPU (s)", f"{zoho.cpu:.2f}", f"{http.cpu:.2f}", ratio(zoho.cpu, http.cpu)),
        (
            "CPU per poll (us)",
            f"{zoho.cpu_us_per_poll:.0f}",
            f"{http.cpu_us_per_poll:.0f}",
            ratio(zoho.cpu_us_per_poll, http.cpu_us_per_poll),
        ),
        (
            "peak RSS growth (MB)",
            f"{zoho.rss_growth_mb:.1f}",
            f"{http.rss_growth_mb:.1f}",
            ratio(zoho.rss_growth_mb, http.rss_growth_mb),
        ),
        ("token requests", str(zoho.token_requests), f"{http.token_requests} (fixed token)", ""),
        ("status requests", str(zoho.status_requests), str(http.status_requests), ""),
        ("polls", str(zoho.polls), str(http.polls), ""),
        ("max sockets open at once", str(zoho.max_sockets), str(http.max_sockets), ""),
        (
            "right events",
            f"{workload.triggers - len(zoho.wrong)}/{workload.triggers}",
            f"{workload.triggers - len(http.wrong)}/{workload.triggers}",
            "",
        ),
    ]
    rss_bar = PEAK_RSS_BAR_MB_PER_1000 * max(1.0, workload.triggers / 1000)
    cpu_ratio = zoho.cpu_us_per_poll / http.cpu_us_per_poll if http.cpu_us_per_poll else float("inf")
    bar = [
        (
            f"token requests == connections ({workload.connections})",
            str(zoho.token_requests),
            zoho.token_requests == workload.connections,
        ),
        (f"status requests == polls ({zoho.polls})", str(zoho.status_requests), zoho.status_requests == zoho.polls),
        (f"CPU per poll <= {CPU_RATIO_BAR}x HttpSensorTrigger", f"{cpu_ratio:.2f}x", cpu_ratio <= CPU_RATIO_BAR),
        (
            f"peak RSS growth <= {rss_bar:.0f} MB ({workload.triggers} triggers)",
            f"{zoho.rss_growth_mb:.1f} MB",
            zoho.rss_growth_mb <= rss_bar,
        ),
        (
            f"sockets open at once <= request cap x connections ({pool_bound})",
            str(zoho.max_sockets),
            zoho.max_sockets <= pool_bound,
        ),
    ]
    width = max(len(row[0]) for row in rows)
    lines = [
        f"{workload.triggers} triggers, {workload.connections} connections, {workload.polls} polls each, "
        f"poll interval {workload.poll_interval} s; {_versions()}",
        "",
        f"{'':{width}}  {'ZohoJobTrigger':>16}  {'HttpSensorTrigger':>20}  {'Zoho/HTTP':>9}",
        *(
            f"{name:{width}}  {zoho_value:>16}  {http_value:>20}  {ratio_value:>9}"
            for name, zoho_value, http_value, ratio_value in rows
        ),
        "",
    ]
    bar_width = max(len(line[0]) for line in bar)
    lines += [f"{'bar':{bar_width}}  {'ZohoJobTrigger':>14}  met"]
    lines += [f"{name:{bar_width}}  {value:>14}  {'yes' if met else 'NO'}" for name, value, met in bar]
    if not (zoho.exact_peak and http.exact_peak):
        lines.append("(peak RSS is the process's lifetime peak: /proc/self/clear_refs was not writable)")
    return "\n".join(lines), all(met for _, _, met in bar)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--triggers", type=int, default=Workload.triggers)
    parser.add_argument("--connections", type=int, default=Workload.connections)
    parser.add_argument("--polls", type=int, default=Workload.polls)
    parser.add_argument("--poll-interval", type=float, default=Workload.poll_interval)
    parser.add_argument("--profile", help="write a cProfile of the Zoho run to this file (slows it down)")
    parser.add_argument("--worker", choices=(ZOHO, HTTP), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.triggers < 1 or args.connections < 1 or args.polls < 1 or args.poll_interval <= 0:
        parser.error("--triggers, --connections, --polls and --poll-interval must be positive")
    workload = Workload(args.triggers, args.connections, args.polls, args.poll_interval)
    if args.worker:
        print(json.dumps(measure_worker(args.worker, workload, args.profile)))
        return 0

    from airflow_provider_zoho.connection_config import DEFAULT_MAX_CONCURRENT_REQUESTS

    bench_clients = clients(workload)
    with emulator_process() as base_url:
        _request(base_url + "/__emulator__/clients", payload=[client._asdict() for client in bench_clients])
        for variant in (ZOHO, HTTP):
            _request(
                base_url + "/__emulator__/jobs",
                payload=job_definitions(plan_jobs(workload, variant), workload, variant),
            )
        tokens = access_tokens(base_url, bench_clients)
        zoho = run_variant(ZOHO, workload, base_url, zoho_connection_env(base_url, bench_clients), args.profile)
        http = run_variant(HTTP, workload, base_url, http_connection_env(base_url, tokens))
    table, bar_met = report(workload, zoho, http, DEFAULT_MAX_CONCURRENT_REQUESTS * workload.connections)
    print(table)
    for line in (zoho.wrong + http.wrong)[:20]:
        print("wrong event:", line, file=sys.stderr)
    if zoho.wrong or http.wrong:
        print(f"{len(zoho.wrong) + len(http.wrong)} triggers yielded the wrong event", file=sys.stderr)
        return 1
    if not bar_met:
        print("(the bar is not met; see the lines marked NO)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
