"""Every benchmark in one run (``make bench``): each section's table, its bars and whether each was met.

    python -m benchmarks

1. ``ZohoJobTrigger`` vs ``HttpSensorTrigger`` vs the floor (``benchmarks/triggerer_scale.py``);
2. the polling cost of a 2-hour job with and without exponential backoff (``benchmarks/polling_cost.py``);
3. 1,000 triggers against a Zoho concurrency limit of 5, with the cap and without (``concurrency_cap.py``);
4. cost as work grows: 1,000, 5,000 and 10,000 triggers (``growth.py``);
5. token requests of 100 deferrable sensors, each started in a fresh worker process (``cluster_tokens.py``);
6. exporting 100,000 and 1,000,000 CRM records: ``ZohoCRMBulkReadOperator``'s peak RSS and CPU per MB written
   beside a bare ``requests`` download and ``zipfile`` extraction of the same result (``extract_export.py``).

Each module also runs on its own (``python -m benchmarks.<name> --help``). About 18 minutes on two cores, 12 of
them in section 5, which waits out Zoho's 10-minute token window as a real deployment would. The
exit status is 1 only when a poller ended with the wrong event or an export wrote the wrong records; a bar
not met is reported, not fatal, as CPU figures move with whatever else the machine runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from benchmarks import cluster_tokens, concurrency_cap, extract_export, growth, polling_cost, triggerer_scale
from benchmarks.triggerer_scale import Bar, Workload

Section = Callable[[], tuple[str, list[Bar], list[str]]]


def _polling_cost() -> tuple[str, list[Bar], list[str]]:
    text, bars = polling_cost.table(hours=2, poll_interval=30, max_wait=600)
    return text, bars, []


SECTIONS: tuple[tuple[str, Section], ...] = (
    ("ZohoJobTrigger vs HttpSensorTrigger vs the floor", lambda: triggerer_scale.compare(Workload())),
    ("Polling cost of a long job: exponential backoff in deferrable mode", _polling_cost),
    ("A concurrency cap per connection", concurrency_cap.compare),
    ("Cost as work grows", growth.compare),
    ("Tokens across a deployment: 100 sensors in fresh worker processes", cluster_tokens.compare),
    ("Exporting CRM records: ZohoCRMBulkReadOperator vs a bare download", extract_export.compare),
)


def main() -> int:
    started = time.monotonic()
    unmet: list[str] = []
    wrong: list[str] = []
    total = 0
    for number, (title, section) in enumerate(SECTIONS, 1):
        heading = f"{number}. {title}"
        print(f"{heading}\n{'=' * len(heading)}\n", flush=True)
        text, bars, section_wrong = section()
        print(text + "\n", flush=True)
        total += len(bars)
        unmet += [f"{number}. {name} (measured {value})" for name, value, met in bars if not met]
        wrong += section_wrong
    print(f"{total - len(unmet)} of {total} bars met in {time.monotonic() - started:.0f} s")
    for line in unmet:
        print(f"  not met: {line}")
    for line in wrong[:20]:
        print("wrong event:", line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
