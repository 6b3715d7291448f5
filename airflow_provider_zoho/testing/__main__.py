"""Run the Zoho emulator in the foreground: ``python -m airflow_provider_zoho.testing``.

For out-of-process users (the demo, end-to-end tests that start real Airflow processes): it prints one
``ZOHO_EMULATOR_URL=http://HOST:PORT`` line once listening, so a parent process can read the port it was
given, then serves until SIGTERM or SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from airflow_provider_zoho.testing.emulator import ZohoEmulator


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_zoho.testing", description="Serve a Zoho API emulator over HTTP."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--jobs", type=Path, help="JSON file holding a list of job definitions")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--refresh-token")
    parser.add_argument("--token-ttl", type=float, default=3600)
    parser.add_argument("--token-limit-per-window", type=int, default=10)
    parser.add_argument("--token-window-seconds", type=float, default=600)
    args = parser.parse_args(argv)
    client = (args.client_id, args.client_secret, args.refresh_token)
    if any(client) and not all(client):
        parser.error("--client-id, --client-secret and --refresh-token go together")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure and start the emulator, then block until a stop signal."""
    args = _parse_args(argv)
    emulator = ZohoEmulator(
        host=args.host,
        port=args.port,
        token_ttl=args.token_ttl,
        token_limit_per_window=args.token_limit_per_window,
        token_window_seconds=args.token_window_seconds,
    )
    if args.client_id:
        emulator.add_client(args.client_id, args.client_secret, args.refresh_token)
    if args.jobs is not None:
        definitions = json.loads(args.jobs.read_text())
        if not isinstance(definitions, list):
            print(f"{args.jobs}: expected a JSON list of job definitions", file=sys.stderr)
            return 2
        emulator.add_jobs(definitions)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    try:
        print(f"ZOHO_EMULATOR_URL={emulator.base_url}", flush=True)
        while not stop.wait(1.0):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
