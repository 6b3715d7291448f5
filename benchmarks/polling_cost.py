"""How many of Zoho's API calls one long job costs, with and without exponential backoff (simulated time).

Zoho's budget is per org (CRM: API credits per rolling 24 hours): 1,000 jobs polled every 30 s for an
hour is 120,000 calls. With ``exponential_backoff=True`` the trigger, like poke mode, doubles its interval
with each "still running" answer up to ``max_wait``. This walks the trigger's own schedule
(``pending_poll_interval``) over a job of a given length, without jitter, and prints the table.

    python -m benchmarks.polling_cost [--hours 2] [--poll-interval 30] [--max-wait 600]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from airflow_provider_zoho.triggers.job import pending_poll_interval
from benchmarks.triggerer_scale import Bar, bar_lines

# The bar: a 2-hour job polled from every 30 s makes at most ~20 status calls with backoff.
BAR_CALLS = 20


@dataclass(frozen=True)
class PollingCost:
    status_calls: int
    seen_after_end: float  # seconds between the job's end and the poll that saw it


def simulate(job_seconds: float, poll_interval: float, *, exponential: bool, max_wait: float | None) -> PollingCost:
    """Poll a job that ends ``job_seconds`` after the first poll (the sensor's, on the worker)."""
    now, calls, pending = 0.0, 1, 0
    while now < job_seconds:
        pending += 1
        now += pending_poll_interval(poll_interval, pending, exponential=exponential, max_wait=max_wait)
        calls += 1
    return PollingCost(calls, now - job_seconds)


def table(hours: float, poll_interval: float, max_wait: float) -> tuple[str, list[Bar]]:
    job = hours * 3600
    fixed = simulate(job, poll_interval, exponential=False, max_wait=None)
    backoff = simulate(job, poll_interval, exponential=True, max_wait=max_wait)
    bars: list[Bar] = [
        (
            f"exponential_backoff: <= {BAR_CALLS} status calls for a {hours:g} h job",
            str(backoff.status_calls),
            backoff.status_calls <= BAR_CALLS,
        ),
        (
            f"exponential_backoff: end seen within max_wait ({max_wait:g} s)",
            f"{backoff.seen_after_end:.0f} s",
            backoff.seen_after_end <= max_wait,
        ),
    ]
    rows = [
        f"One {hours:g} h job (simulated time, no jitter)",
        "",
        "| polling | status calls | end seen after |",
        "|---|---|---|",
        f"| every {poll_interval:g} s | {fixed.status_calls} | {fixed.seen_after_end:.0f} s |",
        f"| exponential_backoff, max_wait={max_wait:g} s | {backoff.status_calls} | {backoff.seen_after_end:.0f} s |",
        "",
        *bar_lines(bars),
    ]
    return "\n".join(rows), bars


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--poll-interval", type=float, default=30.0)
    parser.add_argument("--max-wait", type=float, default=600.0)
    args = parser.parse_args(argv)
    text, bars = table(args.hours, args.poll_interval, args.max_wait)
    print(text)
    return 0 if all(met for _, _, met in bars) else 1


if __name__ == "__main__":
    raise SystemExit(main())
