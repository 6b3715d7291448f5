"""Token requests across a deployment: each deferrable sensor started in its own fresh worker process.

Zoho grants 10 token requests per 10 minutes per refresh token and keeps 15 live access tokens. On Celery or
Kubernetes every task runs in a new process with an empty token cache, and a deferrable sensor polls once on its
worker before deferring: 100 mapped sensors make 100 token requests. With ``poke_before_defer=False`` the worker
defers at once and asks Zoho nothing; the triggerer, one process, polls every job with one shared token.

Each sensor here runs ``execute`` in a new ``python`` process (as a worker would), against the emulator; then all
the triggers they deferred with run in this one process (as the triggerer would). The emulator counts tokens.

    python -m benchmarks.cluster_tokens [--sensors 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE
from airflow_provider_zoho.testing import airflow_connection_json
from benchmarks.triggerer_scale import Bar, admin, emulator_process, table

WORKERS_AT_ONCE = 2  # one per core: the machine this runs on has two
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
        timeout=600,
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


def measure(base_url: str, sensors: int, poke_before_defer: bool) -> tuple[int, int, list[str]]:
    """Token requests made by the workers, then by the triggerer, and the triggers' outcomes."""
    prefix = "8" if poke_before_defer else "9"
    job_ids = [f"{prefix}{number:011d}" for number in range(sensors)]
    jobs = [{"kind": "crm_bulk_write", "job_id": job_id, "script": ["IN PROGRESS", "COMPLETED"]} for job_id in job_ids]
    admin(base_url, "/__emulator__/jobs", jobs)
    env = {**os.environ, CONN_VARIABLE: airflow_connection_json(base_url)}
    before = admin(base_url, "/__emulator__/stats")["token_requests"]
    with ThreadPoolExecutor(WORKERS_AT_ONCE) as pool:
        serialized = list(pool.map(lambda job_id: _start_sensor(job_id, poke_before_defer, env), job_ids))
    after_workers = admin(base_url, "/__emulator__/stats")["token_requests"]
    TOKEN_CACHE.clear()  # a triggerer process starts with no token, as each variant's would
    previous = os.environ.get(CONN_VARIABLE)
    os.environ[CONN_VARIABLE] = env[CONN_VARIABLE]
    try:
        statuses = asyncio.run(_triggerer([entry for entry in serialized if entry is not None]))
    finally:
        if previous is None:
            del os.environ[CONN_VARIABLE]
        else:
            os.environ[CONN_VARIABLE] = previous
    after_triggerer = admin(base_url, "/__emulator__/stats")["token_requests"]
    finished_on_worker = ["success (on the worker)"] * sum(entry is None for entry in serialized)
    return after_workers - before, after_triggerer - after_workers, statuses + finished_on_worker


def compare(sensors: int = 100) -> tuple[str, list[Bar], list[str]]:
    rows, wrong = [], []
    totals: dict[bool, int] = {}
    with emulator_process() as base_url:
        for poke_before_defer in (True, False):
            workers, triggerer, statuses = measure(base_url, sensors, poke_before_defer)
            totals[poke_before_defer] = workers + triggerer
            wrong += [status for status in statuses if not status.startswith("success")]
            name = "poke_before_defer=True (default)" if poke_before_defer else "poke_before_defer=False"
            rows.append((name, str(sensors), str(workers), str(triggerer), str(workers + triggerer)))
    lines = table(("sensor", "worker processes", "worker tokens", "triggerer tokens", "total"), rows)
    bars: list[Bar] = [
        (
            f"<= 2 token requests for {sensors} sensors in fresh processes (poke_before_defer=False)",
            str(totals[False]),
            totals[False] <= 2,
        )
    ]
    return "\n".join(lines), bars, wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=100)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--no-poke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, poke_before_defer=not args.no_poke)
        return 0
    text, bars, wrong = compare(args.sensors)
    print(text)
    for asked, measured, met in bars:
        print(f"bar: {asked}: {measured}, {'met' if met else 'NOT met'}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
