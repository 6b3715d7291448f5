"""Run the Zoho emulator in the foreground: ``python -m airflow_provider_zoho.testing``.

For people trying a DAG by hand and for out-of-process users (the demo, end-to-end tests that start real
Airflow processes). Once listening it prints ``ZOHO_EMULATOR_URL=http://HOST:PORT`` as its first line, so a
parent process can read the port it was given, then the ``export AIRFLOW_CONN_ZOHO_DEFAULT=...`` line a
person pastes into the shell that runs Airflow; it serves until SIGTERM or SIGINT and exits 0.

Without client flags it registers ``ZohoEmulator.DEFAULT_CLIENT``, the client the pytest fixture registers
and ``airflow_connection_json(url)`` names, so that connection works as printed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from airflow_provider_zoho.testing.emulator import (
    ADMIN_PREFIX,
    ClientCredentials,
    ZohoEmulator,
    airflow_connection_json,
)

#: One status-only job per kind, for a sensor pointed at it by hand (the example DAGs create their own jobs).
EXAMPLE_JOBS = Path(__file__).with_name("example_jobs.json")

_EPILOG = f"""\
client:
  Without --client-id/--client-secret/--refresh-token the emulator registers the default client
  ({ZohoEmulator.DEFAULT_CLIENT.client_id} / {ZohoEmulator.DEFAULT_CLIENT.client_secret} / \
{ZohoEmulator.DEFAULT_CLIENT.refresh_token}), which airflow_connection_json(url) uses.
  The connection printed on start points at it: paste that line where Airflow runs.

--jobs FILE:
  A JSON list of jobs. Each is an object with "kind" (analytics_import, crm_bulk_write,
  bigin_bulk_write, creator_bulk_insert, analytics_export, creator_bulk_read, crm_bulk_read,
  bigin_bulk_read), "job_id", "script" (the states each status GET walks
  through, as Zoho spells them; the last repeats; a step may be a fault such as
  {{"fault": "rate_limited", "retry_after": 1}}), the kind's coordinates (analytics_import:
  "workspace_id", "org_id"; creator_bulk_insert: "account_owner_name", "app_link_name",
  "form_link_name", optional "environment"), and optional "counts" and "error_message".
  Example, one job per kind, for a sensor pointed at it by hand (say
  ZohoCRMBulkWriteJobSensor(job_id="111111000000541001")):
    {EXAMPLE_JOBS}

jobs the operators create:
  The create and upload endpoints (CRM/Bigin bulk write, Analytics import, Creator bulk insert)
  are served too. What a created job does with the file's rows (by line, the header being
  line 1) and which states it walks through is set per product with the admin API below; the
  setting holds for every job created after it.

admin HTTP API (JSON bodies; jobs, clients and grant_codes take an object or a list of them):
  POST {ADMIN_PREFIX}/jobs          add or replace jobs, in the --jobs format
  POST {ADMIN_PREFIX}/bulk_write    CRM and Bigin bulk writes created from now on:
                                   {{"skipped": {{"5": "DUPLICATE_DATA-Email"}}, "unprocessed": [12],
                                   "mandatory": ["Last_Name"], "script": ["ADDED", "COMPLETED"]}}
  POST {ADMIN_PREFIX}/analytics_import
                                   Analytics imports created from now on: {{"skipped": [5, 9],
                                   "script": ["1002", "1004"], "busy": 2}} (rows that do not fit
                                   the table; busy: creates refused with 8134 first)
  POST {ADMIN_PREFIX}/creator_insert
                                   Creator bulk inserts created from now on: {{"failed": {{"3":
                                   "Invalid email"}}, "script": ["In-progress", "Completed"],
                                   "result_pending": 1, "upload_forms": ["path", "query"],
                                   "start_methods": ["PATCH", "PUT"], "record_details_beside_data": false}}
  POST {ADMIN_PREFIX}/crm_modules   declare CRM or Bigin modules (replacing one of the same name):
                                   {{"product": "crm", "modules": [{{"api_name": "Vendors", "fields":
                                   [{{"api_name": "Vendor_Name", "system_mandatory": true}},
                                   {{"api_name": "Email", "data_type": "email", "unique": true}}]}}]}}
  POST {ADMIN_PREFIX}/analytics_workspaces
                                   declare an Analytics workspace and its tables: {{"workspace_id": "1",
                                   "name": "Ops", "org_id": "55", "tables": [{{"name": "T", "view_id": "2",
                                   "columns": ["A", {{"name": "B", "type": "Number"}}]}}]}}
  POST {ADMIN_PREFIX}/creator_apps  declare Creator apps (an object or a list): {{"owner", "link_name",
                                   "forms": {{"Orders": ["Email", "Name.first_name"]}}, "reports"?}}
  POST {ADMIN_PREFIX}/analytics_rows
                                   seed an Analytics table's rows for exports: {{"workspace_id", "view_id",
                                   "rows": [["v1", "v2"] or {{"Col": "v"}}], "count": 1000000 (synthetic
                                   rows, generated when read), "replace": false}}
  POST {ADMIN_PREFIX}/analytics_export
                                   Analytics exports created from now on: {{"script": ["1002", "1003"]}}
                                   ("once": true: the next one only); {{"expire": "<job id>"}}
  POST {ADMIN_PREFIX}/creator_records
                                   seed a Creator form's records for bulk reads: {{"owner", "app", "form",
                                   "records": [{{"Status": "Open"}}], "count": 450000, "replace": false}}
  POST {ADMIN_PREFIX}/creator_bulk_read
                                   Creator bulk reads created from now on: {{"script": ["In-progress",
                                   "Failed"], "error_message"?, "once"?: true, "cursor_ttl"?: 900}}
  POST {ADMIN_PREFIX}/crm_records   seed a CRM or Bigin module's records for bulk reads: {{"product": "crm",
                                   "module": "Contacts", "count": 500000 (synthetic, generated when read),
                                   "modified_from"?: "2026-01-01T00:00:00+00:00", "step_seconds"?: 60,
                                   "replace"?: false}}
  POST {ADMIN_PREFIX}/crm_bulk_read CRM and Bigin bulk reads created from now on: {{"script": ["QUEUED",
                                   "FAILURE"], "once"?: true (the next one only), "reset_downloads"?: true,
                                   "page_token_ttl"?: 86400, "custom_views"?: [{{"module", "cvid",
                                   "criteria"?, "exportable"?: true}}], "expire"?: "<job id>"}}; answers the
                                   counters (downloads...)
  POST {ADMIN_PREFIX}/clients       {{"client_id", "client_secret", "refresh_token"}}
  POST {ADMIN_PREFIX}/grant_codes   {{"code", "client_id", "refresh_token", "expires_in", "offline"}}
                                   (all but "code" optional): a grant code for
                                   python -m airflow_provider_zoho.auth; answers its refresh token
  POST {ADMIN_PREFIX}/accounts      [faults] answered by the next token requests, e.g.
                                   [{{"fault": "invalid_client"}}]
  POST {ADMIN_PREFIX}/revoke_tokens invalidate every access token issued so far
  POST {ADMIN_PREFIX}/concurrency   {{"limit": 5}}: answer 429 past 5 status GETs in flight per client
                                   ({{"limit": null}}: no limit, the default)
  POST {ADMIN_PREFIX}/reset_counters
  GET  {ADMIN_PREFIX}/stats         request counters

example:
  python -m airflow_provider_zoho.testing --port 8765 --analytics-org-id 55522777 \\
      --jobs {EXAMPLE_JOBS}
  (any free port but 8080, which Airflow's API server uses; 0, the default, picks one)
"""


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_zoho.testing",
        description="Serve a Zoho API emulator (accounts server, bulk-job create and status APIs) over HTTP.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default); avoid 8080 (Airflow)")
    parser.add_argument("--jobs", type=Path, help="JSON file holding a list of job definitions (see below)")
    parser.add_argument("--client-id", help="register this client instead of the default one")
    parser.add_argument("--client-secret")
    parser.add_argument("--refresh-token")
    parser.add_argument(
        "--grant-code",
        action="append",
        default=[],
        metavar="CODE",
        help="give the client a grant code for python -m airflow_provider_zoho.auth (repeatable)",
    )
    parser.add_argument("--analytics-org-id", help="put this analytics_org_id in the printed connection")
    parser.add_argument("--token-ttl", type=float, default=3600)
    parser.add_argument("--token-limit-per-window", type=int, default=10)
    parser.add_argument("--token-window-seconds", type=float, default=600)
    parser.add_argument(
        "--concurrency-limit",
        type=int,
        metavar="N",
        help="answer 429 (CRM: TOO_MANY_REQUESTS) past N status GETs in flight per client, as Zoho does",
    )
    args = parser.parse_args(argv)
    given = (args.client_id, args.client_secret, args.refresh_token)
    if any(given) and not all(given):
        parser.error("--client-id, --client-secret and --refresh-token go together (or leave all three out)")
    if args.concurrency_limit is not None and args.concurrency_limit < 1:
        parser.error(f"--concurrency-limit must be 1 or more (leave it out for no limit), got {args.concurrency_limit}")
    args.client = ClientCredentials(*given) if all(given) else ZohoEmulator.DEFAULT_CLIENT
    return args


def _load_jobs(emulator: ZohoEmulator, path: Path) -> str | None:
    """Register the jobs of a ``--jobs`` file; the reason it cannot be used, or None."""
    try:
        definitions = json.loads(path.read_text())
        if not isinstance(definitions, list):
            return f"{path}: expected a JSON list of job definitions, got a {type(definitions).__name__}"
        emulator.add_jobs(definitions)
    except OSError as error:
        return f"{path}: cannot read it ({error.strerror or error})"
    except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
        return f"{path}: {error}"
    return None


def startup_lines(base_url: str, client: ClientCredentials, analytics_org_id: str | None) -> list[str]:
    """Return what the CLI prints once listening: the URL for programs, then the connection for people.

    :param base_url: the emulator's URL.
    :param client: the client the printed connection logs in as.
    :param analytics_org_id: an Analytics org id to put in the connection's extras, if any.
    :return: the lines, ``ZOHO_EMULATOR_URL=...`` first.
    """
    extra = {"analytics_org_id": analytics_org_id} if analytics_org_id else {}
    connection = airflow_connection_json(base_url, client, **extra)
    return [f"ZOHO_EMULATOR_URL={base_url}", f"export AIRFLOW_CONN_ZOHO_DEFAULT={shlex.quote(connection)}"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure and start the emulator, then block until a stop signal.

    :param argv: the command-line arguments; default ``sys.argv[1:]``.
    :return: the exit status: 0 once stopped by SIGTERM or SIGINT, 2 for a jobs file it cannot load.
    """
    args = _parse_args(argv)
    emulator = ZohoEmulator(
        host=args.host,
        port=args.port,
        token_ttl=args.token_ttl,
        token_limit_per_window=args.token_limit_per_window,
        token_window_seconds=args.token_window_seconds,
        concurrency_limit=args.concurrency_limit,
    )
    emulator.add_client(*args.client)
    for code in args.grant_code:
        emulator.add_grant_code(code, client_id=args.client.client_id)
    if args.jobs is not None:
        problem = _load_jobs(emulator, args.jobs)
        if problem is not None:
            print(problem, file=sys.stderr)
            return 2

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.start()
    try:
        print("\n".join(startup_lines(emulator.base_url, args.client, args.analytics_org_id)), flush=True)
        while not stop.wait(1.0):  # a timed wait keeps the main thread responsive to signals
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
