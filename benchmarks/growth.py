"""Cost as work grows: 1,000, 5,000 and 10,000 triggers in one triggerer process.

Each size runs in a fresh worker process against one emulator (``benchmarks/triggerer_scale.py`` measures
it: CPU per poll, peak RSS growth over a running triggerer). The offered load is the same at every size,
``--rate`` polls per second (the poll interval grows with N), so the figures compare the cost of holding
more triggers, not of polling faster. Every size polls each job three times (fewer than the comparison's
five, to keep 10,000 triggers to half a minute): the trigger's one-off costs (construction, connection
lookup, the final event) are spread over as many polls at every size.

    python -m benchmarks.growth [--sizes 1000:3 5000:3 10000:3] [--rate 1000]
"""

from __future__ import annotations

import argparse
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
    ratio,
    run_variant,
    table,
    zoho_connection_env,
)

# (triggers, polls each)
SIZES: tuple[tuple[int, int], ...] = ((1000, 3), (5000, 3), (10000, 3))
RATE = 1000.0  # polls offered per second, at every size
CONNECTIONS = 2
# "Flat": within this factor of the smallest size's figure (CPU is noisy on a shared machine; RSS is not).
CPU_FLAT = 1.5
RSS_FLAT = 1.25


def workloads(sizes: Sequence[tuple[int, int]], rate: float) -> list[Workload]:
    return [Workload(triggers=n, connections=CONNECTIONS, polls=polls, poll_interval=n / rate) for n, polls in sizes]


def run_all(runs: Sequence[Workload]) -> list[Result]:
    with emulator_process() as base_url:
        bench_clients = clients(runs[0])
        admin(base_url, "/__emulator__/clients", payload=[client._asdict() for client in bench_clients])
        env = zoho_connection_env(base_url, bench_clients)
        return [run_variant(ZOHO, run, base_url, env) for run in runs]


def kb_per_trigger(result: Result, workload: Workload) -> float:
    return result.rss_growth_mb * 1024 / workload.triggers


def report(runs: Sequence[Workload], results: Sequence[Result]) -> tuple[str, list[Bar]]:
    base_run, base = runs[0], results[0]
    rows = [
        (
            f"{run.triggers:,}",
            str(run.polls),
            f"{run.poll_interval:g}",
            f"{result.cpu_us_per_poll:.0f}",
            ratio(result.cpu_us_per_poll, base.cpu_us_per_poll),
            f"{result.full_gcs} ({result.full_gc_us_per_poll:.0f} us/poll)",
            f"{result.rss_growth_mb:.1f}",
            f"{kb_per_trigger(result, run):.1f}",
            ratio(kb_per_trigger(result, run), kb_per_trigger(base, base_run)),
            f"{result.wall:.1f}",
            f"{result.status_requests}/{result.polls}",
            str(result.token_requests),
            f"{run.triggers - len(result.wrong)}/{run.triggers}",
        )
        for run, result in zip(runs, results, strict=True)
    ]
    header = (
        "triggers",
        "polls",
        "interval (s)",
        "CPU/poll (us)",
        "vs first",
        "full GCs (CPU)",
        "RSS growth (MB)",
        "RSS/trigger (KB)",
        "vs first",
        "wall (s)",
        "status requests",
        "tokens",
        "right events",
    )
    bars: list[Bar] = []
    for run, result in zip(runs[1:], results[1:], strict=True):
        cpu = result.cpu_us_per_poll / base.cpu_us_per_poll
        rss = kb_per_trigger(result, run) / kb_per_trigger(base, base_run)
        bars.append(
            (f"{run.triggers:,}: CPU per poll <= {CPU_FLAT}x {base_run.triggers:,}'s", f"{cpu:.2f}x", cpu <= CPU_FLAT)
        )
        bars.append(
            (
                f"{run.triggers:,}: RSS per trigger <= {RSS_FLAT}x {base_run.triggers:,}'s",
                f"{rss:.2f}x",
                rss <= RSS_FLAT,
            )
        )
    bars.append(
        (
            "one token per connection, one request per poll, every event right",
            "yes" if all(_exact(run, result) for run, result in zip(runs, results, strict=True)) else "no",
            all(_exact(run, result) for run, result in zip(runs, results, strict=True)),
        )
    )
    lines = [
        f"{CONNECTIONS} connections, {runs[0].triggers / runs[0].poll_interval:g} polls per second offered at every size",
        "",
        *table(header, rows),
        "",
        *bar_lines(bars),
        "",
        flatness(runs, results),
    ]
    return "\n".join(lines), bars


def _exact(run: Workload, result: Result) -> bool:
    return result.token_requests == run.connections and result.status_requests == result.polls and not result.wrong


def flatness(runs: Sequence[Workload], results: Sequence[Result]) -> str:
    """Where CPU per poll and RSS per trigger stop being flat, in words."""
    base_run, base = runs[0], results[0]
    cpu_off = [
        run.triggers
        for run, r in zip(runs, results, strict=True)
        if r.cpu_us_per_poll > CPU_FLAT * base.cpu_us_per_poll
    ]
    rss_off = [
        run.triggers
        for run, r in zip(runs, results, strict=True)
        if kb_per_trigger(r, run) > RSS_FLAT * kb_per_trigger(base, base_run)
    ]
    said = []
    for what, off, factor in (("CPU per poll", cpu_off, CPU_FLAT), ("RSS per trigger", rss_off, RSS_FLAT)):
        if off:
            said.append(f"{what} stops being flat at {off[0]:,} triggers (more than {factor}x {base_run.triggers:,}'s)")
        else:
            said.append(f"{what} stays flat up to {runs[-1].triggers:,} triggers (within {factor}x)")
    last_run, last = runs[-1], results[-1]
    rise = last.cpu_us_per_poll - base.cpu_us_per_poll
    in_gc = last.full_gc_us_per_poll - base.full_gc_us_per_poll
    said.append(
        f"from {base_run.triggers:,} to {last_run.triggers:,} triggers CPU per poll changed by {rise:+.0f} us, "
        f"{in_gc:+.0f} us of it in the collector's full sweeps (each walks every live object)"
    )
    return "; ".join(said) + "."


def parse_size(text: str) -> tuple[int, int]:
    triggers, _, polls = text.partition(":")
    try:
        size = (int(triggers), int(polls or 3))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is TRIGGERS:POLLS such as 5000:3, got {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"triggers and polls must be positive, got {text!r}")
    return size


def compare(sizes: Sequence[tuple[int, int]] = SIZES, rate: float = RATE) -> tuple[str, list[Bar], list[str]]:
    runs = workloads(sizes, rate)
    results = run_all(runs)
    text, bars = report(runs, results)
    return text, bars, [line for result in results for line in result.wrong]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=list(SIZES), metavar="TRIGGERS:POLLS")
    parser.add_argument("--rate", type=float, default=RATE, help="polls per second offered (default %(default)s)")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")
    text, _, wrong = compare(args.sizes, args.rate)
    print(text)
    for line in wrong[:20]:
        print("wrong event:", line, file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
