"""1,000 triggers on one connection against Zoho's concurrency limit: with the per-connection cap and without.

Zoho answers ``429 TOO_MANY_REQUESTS`` past an app's concurrency limit (CRM: 5 to 25 calls in flight by
edition), to every integration of the org, not only to Airflow. The emulator plays that limit
(``POST /__emulator__/concurrency``; ``--concurrency-limit`` on its command line), counting the status GETs
each client has in flight; every "still running" answer after a job's first takes ``--answer-delay``
seconds, so that requests overlap as they do against a real, slower server. The same workload runs twice,
each in a fresh worker process: with the connection's cap at the limit (``max_concurrent_requests=5``, the
default) and with the cap out of the way (``max_concurrent_requests=1000``). The trigger's ``max_backoff``
is short here so that the run without the cap ends in seconds; it does not change how many requests are in
flight at once.

    python -m benchmarks.concurrency_cap [--triggers 1000] [--limit 5] [--answer-delay 0.02]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from benchmarks.triggerer_scale import (
    ZOHO,
    Bar,
    Result,
    Workload,
    admin,
    bar_lines,
    clients,
    emulator_process,
    run_variant,
    table,
    zoho_connection_env,
)

WORKLOAD = Workload(triggers=1000, connections=1, polls=3, poll_interval=0.2, answer_delay=0.02, max_backoff=1.0)
LIMIT = 5


def run_both(workload: Workload, limit: int) -> tuple[Result, Result]:
    """The workload against an emulator enforcing ``limit``: capped at it, then with a cap of N triggers."""
    capped = dataclasses.replace(workload, max_concurrent_requests=limit)
    uncapped = dataclasses.replace(workload, max_concurrent_requests=workload.triggers)
    with emulator_process() as base_url:
        admin(base_url, "/__emulator__/concurrency", payload={"limit": limit})
        bench_clients = clients(workload)
        admin(base_url, "/__emulator__/clients", payload=[client._asdict() for client in bench_clients])
        results = [
            run_variant(ZOHO, run, base_url, zoho_connection_env(base_url, bench_clients, run.max_concurrent_requests))
            for run in (capped, uncapped)
        ]
    return results[0], results[1]


def report(workload: Workload, limit: int, capped: Result, uncapped: Result) -> tuple[str, list[Bar]]:
    both = (capped, uncapped)
    rows = [
        ("connection cap (max_concurrent_requests)", str(limit), str(workload.triggers)),
        ("429 TOO_MANY_REQUESTS answered", *(str(r.over_concurrency) for r in both)),
        ("status requests (incl. the 429s)", *(str(r.status_requests) for r in both)),
        ("most status GETs in flight at once", *(str(r.max_in_flight) for r in both)),
        ("most sockets open at once", *(str(r.max_sockets) for r in both)),
        ("token requests", *(str(r.token_requests) for r in both)),
        ("wall time (s)", *(f"{r.wall:.2f}" for r in both)),
        ("CPU per poll (us)", *(f"{r.cpu_us_per_poll:.0f}" for r in both)),
        ("right events", *(f"{workload.triggers - len(r.wrong)}/{workload.triggers}" for r in both)),
    ]
    bars: list[Bar] = [
        (f"with the cap: no 429 from a limit of {limit}", str(capped.over_concurrency), capped.over_concurrency == 0),
        (
            f"with the cap: at most {limit} in flight",
            str(capped.max_in_flight),
            capped.max_in_flight <= limit,
        ),
        (
            "without it: 429s (the limit bites)",
            str(uncapped.over_concurrency),
            uncapped.over_concurrency > 0,
        ),
        (
            "every trigger ends in success, both ways",
            f"{2 * workload.triggers - len(capped.wrong) - len(uncapped.wrong)}/{2 * workload.triggers}",
            not capped.wrong and not uncapped.wrong,
        ),
    ]
    lines = [
        f"{workload.triggers} triggers on one connection, {workload.polls} polls each, poll interval "
        f"{workload.poll_interval} s, pending answers {workload.answer_delay * 1000:.0f} ms late; the emulator "
        f"answers 429 past {limit} status GETs in flight per client",
        "",
        *table(("", "with the cap", "without"), rows),
        "",
        *bar_lines(bars),
    ]
    return "\n".join(lines), bars


def compare(workload: Workload = WORKLOAD, limit: int = LIMIT) -> tuple[str, list[Bar], list[str]]:
    """Table, bars and the wrong events of both runs."""
    capped, uncapped = run_both(workload, limit)
    text, bars = report(workload, limit, capped, uncapped)
    return text, bars, capped.wrong + uncapped.wrong


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triggers", type=int, default=WORKLOAD.triggers)
    parser.add_argument("--limit", type=int, default=LIMIT)
    parser.add_argument("--answer-delay", type=float, default=WORKLOAD.answer_delay)
    args = parser.parse_args(argv)
    if args.triggers < 1 or args.limit < 1 or args.answer_delay <= 0:
        parser.error("--triggers, --limit and --answer-delay must be positive")
    workload = dataclasses.replace(WORKLOAD, triggers=args.triggers, answer_delay=args.answer_delay)
    text, _, wrong = compare(workload, args.limit)
    print(text)
    for line in wrong[:20]:
        print("wrong event:", line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
