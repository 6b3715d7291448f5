"""Token requests across a deployment: each deferrable sensor started in its own fresh worker process.

Zoho grants 10 token requests per 10 minutes per refresh token and keeps 15 live access tokens. Every task runs
in a new process with an empty token cache, and a deferrable sensor polls once on its worker before deferring;
with the default settings the processes of a machine share one token through the file store
(``$AIRFLOW_HOME/zoho_tokens``), so 100 mapped sensors make one token request, and the triggerer, on the same
machine, reuses it. With ``poke_before_defer=False`` the workers ask Zoho nothing at all.

Each sensor here runs ``execute`` in a new ``python`` process (as a worker would), against the emulator; then all
the triggers they deferred run together in one more fresh process (as the triggerer would). Each variant runs on
a "machine" of its own (a fresh ``AIRFLOW_HOME``) with default settings. The emulator counts tokens, granted and
refused, with Zoho's real window. The triggerer's log lines are counted, not printed.

    python -m benchmarks.cluster_tokens [--sensors 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from airflow_provider_zoho.testing import airflow_connection_json
from benchmarks.triggerer_scale import Bar, admin, emulator_process, run_logged, table

WORKERS_AT_ONCE = 2  # one per core: the machine this runs on has two
# Longer than Zoho's 10-minute token window plus the longest pause after a refused token request, so that
# every sensor of the default variant lives to see its job's end, however late.
SENSOR_TIMEOUT_SECONDS = 1800
CONN_VARIABLE = "AIRFLOW_CONN_ZOHO_DEFAULT"


def _worker(job_id: str, poke_before_defer: bool) -> None:
    """One worker process: execute the sensor, print the trigger it deferred with (as Airflow stores it)."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor

    sensor = ZohoCRMBulkWriteJobSensor(
        task_id="wait",
        job_id=job_id,
        deferrable=True,
        poke_before_defer=poke_before_defer,
        poll_interval=0.05,
        timeout=SENSOR_TIMEOUT_SECONDS,
    )
    try:
        sensor.execute(context={})  # type: ignore[arg-type]
    except TaskDeferred as deferred:
        print(json.dumps(deferred.trigger.serialize()))
    else:
        print("null")


def _start_sensor(job_id: str, poke_before_defer: bool, env: dict[str, str]) -> Any:
    command = [sys.executable, "-m", "benchmarks.cluster_tokens", "--worker", job_id]
    if not poke_before_defer:
        command.append("--no-poke")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def _triggerer(serialized: Sequence[Any]) -> list[str]:
    """Run every deferred trigger in one loop, as one triggerer process does; their events' statuses.

    The triggers close their shared session as the last of them ends, as they do in ``airflow dags test``.
    """
    from airflow.providers.common.compat.module_loading import import_string

    async def first(classpath: str, kwargs: dict[str, Any]) -> str:
        async for event in import_string(classpath)(**kwargs).run():
            return str(event.payload["status"])
        return "none"

    return list(await asyncio.gather(*(first(classpath, kwargs) for classpath, kwargs in serialized)))


def _start_triggerer(serialized: Sequence[Any], env: dict[str, str]) -> tuple[list[str], int]:
    """Run the triggers in a fresh process (``--triggerer``): their statuses, and how many lines they logged."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as triggers:
        json.dump(list(serialized), triggers)
        triggers.flush()
        command = [sys.executable, "-m", "benchmarks.cluster_tokens", "--triggerer", triggers.name]
        return run_logged(command, env, "the triggerer", timeout=SENSOR_TIMEOUT_SECONDS + 300)


class Measured(NamedTuple):
    worker_requests: int
    worker_refused: int
    triggerer_requests: int
    triggerer_refused: int
    triggerer_log_lines: int
    last_end_seconds: float  # from the first worker's start to the last trigger's event
    statuses: list[str]


def _token_counts(base_url: str) -> tuple[int, int]:
    """Token requests so far, and how many of them the emulator granted."""
    stats = admin(base_url, "/__emulator__/stats")
    return stats["token_requests"], stats["issued_tokens"]


def measure(base_url: str, sensors: int, poke_before_defer: bool) -> Measured:
    """Token requests made by the workers, then by the triggerer (each with the refused among them), all on one
    fresh machine."""
    with tempfile.TemporaryDirectory(prefix="zoho-bench-machine-") as home:
        return _measure_on(home, base_url, sensors, poke_before_defer)


def _measure_on(home: str, base_url: str, sensors: int, poke_before_defer: bool) -> Measured:
    prefix = "8" if poke_before_defer else "9"
    job_ids = [f"{prefix}{number:011d}" for number in range(sensors)]
    jobs = [{"kind": "crm_bulk_write", "job_id": job_id, "script": ["IN PROGRESS", "COMPLETED"]} for job_id in job_ids]
    admin(base_url, "/__emulator__/jobs", jobs)
    # A machine of its own with the default settings: a fresh AIRFLOW_HOME, no [zoho] option set.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__ZOHO__")}
    env.update({CONN_VARIABLE: airflow_connection_json(base_url), "AIRFLOW_HOME": home})
    started = time.monotonic()
    requests_before, granted_before = _token_counts(base_url)
    with ThreadPoolExecutor(WORKERS_AT_ONCE) as pool:
        serialized = list(pool.map(lambda job_id: _start_sensor(job_id, poke_before_defer, env), job_ids))
    requests_after_workers, granted_after_workers = _token_counts(base_url)
    statuses, log_lines = _start_triggerer([entry for entry in serialized if entry is not None], env)
    requests_after, granted_after = _token_counts(base_url)
    worker_requests = requests_after_workers - requests_before
    triggerer_requests = requests_after - requests_after_workers
    finished_on_worker = ["success (on the worker)"] * sum(entry is None for entry in serialized)
    return Measured(
        worker_requests=worker_requests,
        worker_refused=worker_requests - (granted_after_workers - granted_before),
        triggerer_requests=triggerer_requests,
        triggerer_refused=triggerer_requests - (granted_after - granted_after_workers),
        triggerer_log_lines=log_lines,
        last_end_seconds=time.monotonic() - started,
        statuses=statuses + finished_on_worker,
    )


def compare(sensors: int = 100) -> tuple[str, list[Bar], list[str]]:
    rows, wrong = [], []
    totals: dict[bool, int] = {}
    with emulator_process() as base_url:
        for poke_before_defer in (True, False):
            measured = measure(base_url, sensors, poke_before_defer)
            totals[poke_before_defer] = measured.worker_requests + measured.triggerer_requests
            wrong += [status for status in measured.statuses if not status.startswith("success")]
            rows.append(
                (
                    "poke_before_defer=True (default)" if poke_before_defer else "poke_before_defer=False",
                    str(sensors),
                    f"{measured.worker_requests} ({measured.worker_refused})",
                    f"{measured.triggerer_requests} ({measured.triggerer_refused})",
                    str(totals[poke_before_defer]),
                    f"{measured.last_end_seconds:.0f}",
                    str(measured.triggerer_log_lines),
                )
            )
    header = (
        "sensor",
        "worker processes",
        "worker tokens (refused)",
        "triggerer tokens (refused)",
        "total",
        "last end seen (s)",
        "triggerer log lines",
    )
    bars: list[Bar] = [
        (
            f"<= 2 token requests for {sensors} sensors in fresh processes ({variant})",
            str(totals[poke_before_defer]),
            totals[poke_before_defer] <= 2,
        )
        for poke_before_defer, variant in ((True, "default settings"), (False, "poke_before_defer=False"))
    ]
    return "\n".join(table(header, rows)), bars, wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-poke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--triggerer", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, poke_before_defer=not args.no_poke)
        return 0
    if args.triggerer:
        with open(args.triggerer, encoding="utf-8") as triggers:
            print(json.dumps(asyncio.run(_triggerer(json.load(triggers)))))
        return 0
    text, bars, wrong = compare(args.sensors)
    print(text)
    for asked, measured, met in bars:
        print(f"bar: {asked}: {measured}, {'met' if met else 'NOT met'}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
