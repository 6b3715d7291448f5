"""``make demo``: run every example DAG against the packaged Zoho emulator and check each task's outcome.

It starts ``python -m airflow_provider_zoho.testing`` on a free loopback port, points the ``zoho_default``
connection at it (``AIRFLOW_CONN_ZOHO_DEFAULT``), and runs each scenario with ``airflow dags test`` (deferred
tasks run their trigger inline there). The load examples load a contacts CSV the demo writes, the export
examples write under the demo's data folder; before each run the scenario's calls to the emulator's admin API
give Zoho the data an export reads (CRM records, an Analytics workspace and its rows) and script what Zoho does
with the job the run creates: which rows it skips or refuses (and with which of Zoho's codes) and which states
the job walks through. Then it reads every
task's final state and XCom from the metadata database and prints one table: DAG, task, expected state,
actual state, and a short summary. It exits 1 if a task ended in another state than its scenario expects,
needed a retry, or if a run's log says an aiohttp session or connector was left unclosed.

Run it with the interpreter of the virtualenv to demo (``.venv/bin/python scripts/demo.py``); ``airflow``
is taken from the same ``bin`` folder, and every process imports this checkout's package (``PYTHONPATH``).
``AIRFLOW_HOME`` defaults to ``.airflow/`` in the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from airflow_provider_zoho.testing import airflow_connection_json
from airflow_provider_zoho.testing.emulator import ADMIN_PREFIX

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ORG_ID = "60012345678"
DAG_TEST_TIMEOUT = 180
# The contacts CSV every example loads: CSV_ROWS records; the one on line NAMELESS_LINE (the header is line 1)
# has no Last_Name, which the CRM scenarios make mandatory.
CSV_ROWS = 100
NAMELESS_LINE = 17
# Lines in a run's log that mean an aiohttp session was left open: the run fails.
UNCLOSED = ("Unclosed client session", "Unclosed connector")
# Task states that make ``airflow dags test`` exit non-zero.
FAILED_STATES = frozenset({"failed", "upstream_failed"})
SUMMARY_WIDTH = 80
# The emulator's admin endpoints that script the jobs an operator creates, per product (POST {ADMIN_PREFIX}/...):
# a scenario's ``outcomes`` are the bodies it posts to these.
OUTCOME_ENDPOINTS = frozenset(
    {"bulk_write", "analytics_import", "creator_insert", "crm_bulk_read", "analytics_export", "creator_bulk_read"}
)
# The admin endpoints that give the emulator data: what an export reads.
DATA_ENDPOINTS = frozenset({"crm_records", "analytics_rows", "analytics_workspaces", "creator_records", "crm_modules"})
ADMIN_ENDPOINTS = OUTCOME_ENDPOINTS | DATA_ENDPOINTS


@dataclass(frozen=True)
class AdminCall:
    """One ``POST {ADMIN_PREFIX}/{endpoint}`` of the emulator's admin API, made before a scenario's run."""

    endpoint: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Scenario:
    """One run of an example DAG, what Zoho (the emulator) does during it, and the task states that must follow.

    ``setup`` is the emulator's admin calls made before the run, in order: the data an export reads (records,
    rows, a workspace's tables) and how the job the run's operator creates treats the CSV's rows (by line, the
    header being line 1) and the states it walks through. ``params`` is the run's conf, each value a template
    filled by :meth:`conf` (``{csv}``: the demo's contacts CSV, ``{data}``: the demo's data folder).
    ``logical_date`` is the run's (``airflow dags test``'s argument); None: now. ``says``: words a task's
    summary must hold (a failure for the scripted reason, not another; an export's record count).
    """

    name: str
    dag_id: str
    story: str
    expected: Mapping[str, str]
    setup: tuple[AdminCall, ...]
    params: Mapping[str, str] = field(default_factory=lambda: {"file": "{csv}"})
    logical_date: str | None = None
    says: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if unknown := {call.endpoint for call in self.setup} - ADMIN_ENDPOINTS:
            raise ValueError(f"scenario {self.name}: {sorted(unknown)} not among {sorted(ADMIN_ENDPOINTS)}")

    @property
    def outcomes(self) -> dict[str, Any]:
        """The bodies of the calls that script the run's jobs, merged (what the job does with the CSV's rows)."""
        merged: dict[str, Any] = {}
        for call in self.setup:
            if call.endpoint in OUTCOME_ENDPOINTS:
                merged.update(call.body)
        return merged

    def conf(self, csv_path: Path) -> dict[str, str]:
        """The run's conf: ``params`` with ``{csv}`` the contacts CSV and ``{data}`` the folder holding it."""
        return {key: value.format(csv=csv_path, data=csv_path.parent) for key, value in self.params.items()}


def outcomes(endpoint: str, body: Mapping[str, Any]) -> tuple[AdminCall, ...]:
    return (AdminCall(endpoint, body),)


SCRIPT_COMPLETED = ["ADDED", "IN PROGRESS", "COMPLETED"]
ANALYTICS_SKIPPED = (5, 9, 12)  # rows that do not fit the table
CREATOR_REFUSED = range(30, 37)  # 7 records whose Email Creator refuses
# The CRM export's run: its data interval starts on EXPORT_DATE; CONTACTS_BEFORE contacts were last modified the
# day before (not exported), CONTACTS_SINCE from 06:00 that day on, a minute apart (exported).
EXPORT_DATE = "2026-03-01"
CONTACTS_BEFORE = 50
CONTACTS_SINCE = 250
# The Analytics export's workspace (declared by the demo, in the demo's org) and its Sales table.
SALES_WORKSPACE = "35130000009000001"
SALES_VIEW = "35130000009000002"
SALES_ROWS = [["East", "1200"], ["West", "850.50"], ["North", "430"], ["South", "975"]]
SALES_SYNTHETIC = 996

SCENARIOS = (
    Scenario(
        name="crm-export",
        dag_id="example_zoho_crm_export",
        story=f"export the contacts modified since the run's data interval start ({EXPORT_DATE}): "
        f"{CONTACTS_SINCE} of {CONTACTS_BEFORE + CONTACTS_SINCE}, deferred, one page",
        expected={"export_contacts": "success", "report": "success"},
        setup=(
            # Before the data interval start on both Airflows: Airflow 3's @daily run of 2026-03-01 starts its
            # interval that day (CronTriggerTimetable), Airflow 2.11's the day before (CronDataIntervalTimetable).
            AdminCall(
                "crm_records",
                {"module": "Contacts", "count": CONTACTS_BEFORE, "modified_from": "2026-02-26T00:00:00+00:00"},
            ),
            AdminCall(
                "crm_records",
                {"module": "Contacts", "count": CONTACTS_SINCE, "modified_from": f"{EXPORT_DATE}T06:00:00+00:00"},
            ),
            AdminCall("crm_bulk_read", {"script": ["QUEUED", "IN PROGRESS", "COMPLETED"]}),
        ),
        params={"destination": "{data}/exports"},
        logical_date=EXPORT_DATE,
        says={"export_contacts": f"COMPLETED: {CONTACTS_SINCE} records", "report": str(CONTACTS_SINCE)},
    ),
    Scenario(
        name="analytics-export",
        dag_id="example_zoho_analytics_export",
        story=f'export SELECT "Region", "Amount" FROM "Sales" ({len(SALES_ROWS) + SALES_SYNTHETIC} rows), deferred',
        expected={"export_sales": "success", "report": "success"},
        setup=(
            AdminCall(
                "analytics_workspaces",
                {
                    "workspace_id": SALES_WORKSPACE,
                    "name": "Demo Sales",
                    "org_id": ORG_ID,
                    "tables": [
                        {
                            "name": "Sales",
                            "view_id": SALES_VIEW,
                            "columns": ["Region", {"name": "Amount", "type": "Currency"}],
                        }
                    ],
                },
            ),
            AdminCall(
                "analytics_rows",
                {"workspace_id": SALES_WORKSPACE, "view_id": SALES_VIEW, "rows": SALES_ROWS, "count": SALES_SYNTHETIC},
            ),
            AdminCall("analytics_export", {"script": ["1001", "1002", "1004"]}),
        ),
        params={"destination": "{data}/exports", "workspace_id": SALES_WORKSPACE, "org_id": ORG_ID},
        says={"export_sales": f"COMPLETED: {len(SALES_ROWS) + SALES_SYNTHETIC} records"},
    ),
    Scenario(
        name="analytics",
        dag_id="example_zoho_analytics_load",
        story=f"import {CSV_ROWS} contacts with on_error=SKIPROW; {len(ANALYTICS_SKIPPED)} rows do not fit the "
        "table, within max_failed_records=10: success, Zoho's import errors in the summary",
        expected={"load_contacts": "success", "report": "success"},
        setup=outcomes("analytics_import", {"skipped": list(ANALYTICS_SKIPPED), "script": ["1001", "1002", "1004"]}),
    ),
    Scenario(
        name="crm",
        dag_id="example_zoho_crm_load",
        story=f"upsert {CSV_ROWS} contacts; 4 do not land, within max_failed_records=10: success, failed rows kept",
        expected={"load_contacts": "success", "report": "success"},
        setup=outcomes(
            "bulk_write",
            {
                "skipped": {"5": "DUPLICATE_DATA-Email", "9": "INVALID_DATA-Email"},
                "unprocessed": [12],
                "mandatory": ["Last_Name"],
                "script": SCRIPT_COMPLETED,
            },
        ),
    ),
    Scenario(
        name="crm-threshold",
        dag_id="example_zoho_crm_load",
        story="the same file again; 12 records are refused, more than max_failed_records=10: the load fails",
        expected={"load_contacts": "failed", "report": "upstream_failed"},
        says={"load_contacts": "12 record(s) did not land, more than max_failed_records=10"},
        setup=outcomes(
            "bulk_write",
            {
                "skipped": {str(line): "INVALID_DATA-Email" for line in range(20, 31)},
                "mandatory": ["Last_Name"],
                "script": SCRIPT_COMPLETED,
            },
        ),
    ),
    Scenario(
        name="bigin",
        dag_id="example_zoho_bigin_load",
        story="the operator creates the job and returns; it FAILS, and the soft_fail sensor is skipped",
        expected={"load_contacts": "success", "job_ids": "success", "wait_for_job": "skipped", "report": "skipped"},
        setup=outcomes("bulk_write", {"script": ["ADDED", "IN PROGRESS", "FAILED"]}),
    ),
    Scenario(
        name="creator",
        dag_id="example_zoho_creator_load",
        story=f"insert {CSV_ROWS} contacts; {len(CREATOR_REFUSED)} are refused, more than max_failed_records=5: "
        "the load fails with the failure file's reasons, report is not run, alert runs",
        expected={"load_contacts": "failed", "report": "upstream_failed", "alert": "success"},
        says={"load_contacts": "7 record(s) did not land, more than max_failed_records=5"},
        setup=outcomes(
            "creator_insert",
            {
                "failed": {str(line): "Invalid value in the Email field" for line in CREATOR_REFUSED},
                "script": ["In-progress", "Completed"],
            },
        ),
    ),
)


@dataclass
class Outcome:
    """What one scenario's run left: each task's state and summary, and what went wrong beyond the states."""

    scenario: Scenario
    states: dict[str, str]
    summaries: dict[str, str]
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(self.states.get(t) == s for t, s in self.scenario.expected.items())


def write_contacts_csv(path: Path) -> Path:
    """The file every example loads; line ``NAMELESS_LINE`` lacks the Last_Name the CRM scenarios require."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Last_Name", "First_Name", "Email"])
        for line in range(2, CSV_ROWS + 2):
            writer.writerow(["" if line == NAMELESS_LINE else f"Boyle{line}", f"Pat{line}", f"pat{line}@example.com"])
    return path


def code_env() -> dict[str, str]:
    """This checkout's package first on the path: the venv may have another checkout installed in editable mode."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def airflow_env(airflow_home: Path, emulator_url: str) -> dict[str, str]:
    return {
        **code_env(),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW_CONN_ZOHO_DEFAULT": airflow_connection_json(emulator_url, analytics_org_id=ORG_ID),
        "ZOHO_EXAMPLE_POLL_INTERVAL": "2",
        # A retry (the examples allow some) comes after 2 s, not Airflow's 5 minutes: the demo reports it.
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "2",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def start_emulator(log_file: Path) -> tuple[subprocess.Popen[str], str]:
    """The emulator with its default client (the one ``airflow_connection_json`` names)."""
    command = [sys.executable, "-m", "airflow_provider_zoho.testing", "--port", "0"]
    with log_file.open("w") as stderr:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True, env=code_env()
        )
    assert process.stdout is not None
    line = process.stdout.readline().strip()  # the emulator prints its URL once it listens
    if not line.startswith("ZOHO_EMULATOR_URL="):
        stop(process)
        raise SystemExit(f"The emulator did not start (said {line!r}); see {log_file}")
    return process, line.removeprefix("ZOHO_EMULATOR_URL=")


def script_jobs(url: str, scenario: Scenario) -> None:
    """The scenario's admin calls: the data its export reads, how the jobs its operator creates go."""
    for call in scenario.setup:
        answer = requests.post(f"{url}{ADMIN_PREFIX}/{call.endpoint}", json=dict(call.body), timeout=30)
        if answer.status_code >= 400:
            raise SystemExit(f"The emulator refused {scenario.name}'s {call.endpoint} {dict(call.body)}: {answer.text}")


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue


def run_airflow(args: list[str], env: Mapping[str, str], log_file: Path) -> int:
    with log_file.open("w") as log:
        try:
            return subprocess.run(
                [str(BIN / "airflow"), *args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=DAG_TEST_TIMEOUT,
                check=False,
            ).returncode
        except subprocess.TimeoutExpired:
            return -1


def latest_run(database: Path, dag_id: str) -> tuple[dict[str, str], dict[str, int], dict[tuple[str, str], Any]]:
    """The DAG's newest run: each task's state and tries, and the XComs by (task, key); a mapped task's first."""
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)).fetchone()
        if row is None:
            return {}, {}, {}
        tasks = db.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ? "
            "ORDER BY map_index DESC",
            (dag_id, row[0]),
        ).fetchall()
        xcoms = {
            (task_id, key): json.loads(value) if isinstance(value, str | bytes) else value  # SQLite: a number as is
            for task_id, key, value in db.execute(
                "SELECT task_id, key, value FROM xcom WHERE dag_id = ? AND run_id = ? AND value IS NOT NULL "
                "ORDER BY map_index DESC",
                (dag_id, row[0]),
            )
        }
    return {task: state for task, state, _ in tasks}, {task: tries for task, _, tries in tasks}, xcoms


def short(text: str, width: int = SUMMARY_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


TOTALS = ("total", "total_rows", "totalRowCount")  # the names the summaries give the total


def describe_counts(counts: Mapping[str, Any]) -> str:
    """``96 added, 3 skipped, 1 unprocessed of 100``: the non-zero counts, and the total last."""
    total = next((counts[k] for k in TOTALS if k in counts), None)
    named = [f"{value} {name}" for name, value in counts.items() if value and name not in TOTALS]
    return ", ".join(named) + (f" of {total}" if total is not None else "")


def describe_value(value: Any) -> str:
    """A task's return value in a few words: a job summary's state, counts and failed lines; job ids; counts."""
    if isinstance(value, dict) and isinstance(value.get("counts"), dict):
        text = f"{value.get('state')}: {describe_counts(value['counts'])}"
        if failed := value.get("failed_records"):
            lines = [str(row["row"]) for row in failed[:6] if row.get("row") is not None]
            # Creator's failure file does not say which input line failed: its first reason instead.
            text += "; failed lines " + ", ".join(lines) if lines else f"; first failure: {failed[0]['errors']}"
        if errors := value.get("import_errors"):
            text += "; Zoho: " + re.sub(r"<[^>]*>", "", str(errors))  # Analytics marks its text up in HTML
        return text
    if isinstance(value, dict) and "records" in value and "pages" in value:  # an export's summary
        where = Path(str(value.get("destination"))).name
        return f"{value.get('state')}: {value['records']} records in {value['pages']} page(s), {value.get('bytes')} bytes to …/{where}"
    if isinstance(value, dict) and value.get("state") is None and isinstance(value.get("job_ids"), list):
        return "created job " + ", ".join(map(str, value["job_ids"]))  # wait_for_completion=False
    if isinstance(value, dict) and all(isinstance(item, int) for item in value.values()):
        return describe_counts(value)
    if isinstance(value, dict):
        return ", ".join(f"{name} {item}" for name, item in value.items())
    return str(value)


def last_match(pattern: str, log_text: str) -> str | None:
    found = None
    for line in log_text.splitlines():
        if match := re.search(pattern, line):
            found = match.group(1)
    return found


NOT_RUN = {"upstream_failed": "not run: an upstream task failed", "skipped": "not run: an upstream task was skipped"}


def summarize(state: str, tries: int, value: Any, log_text: str) -> str:
    """A few words on how a task ended: its return value, else why it failed or was skipped.

    The log of ``airflow dags test`` mixes every task's lines; each scenario expects at most one task to
    fail or skip on its own, so the last exception (or skip reason) in the log is that task's.
    """
    if value is not None:
        return describe_value(value)
    if tries == 0:
        return NOT_RUN.get(state, "not run")
    if state == "failed":
        return last_match(r"\b(?:Airflow\w*Exception|Zoho\w*Error): (.+)$", log_text) or ""
    if state == "skipped":
        return last_match(r"Skipping task\..*reason='([^']+)'", log_text) or ""
    return ""


def problems_of(
    scenario: Scenario, exit_code: int, states: Mapping[str, str], tries: Mapping[str, int], log_text: str
) -> list[str]:
    """What went wrong in a run beyond the task states: the command's exit, unclosed sessions, retries."""
    problems = []
    if exit_code == -1:
        problems.append(f"airflow dags test did not end within {DAG_TEST_TIMEOUT} s")
    elif (exit_code != 0) != bool(FAILED_STATES & set(scenario.expected.values())):
        problems.append(f"airflow dags test exited {exit_code}")
    if unclosed := [marker for marker in UNCLOSED if marker in log_text]:
        problems.append(f"its log says {' and '.join(map(repr, unclosed))}: an aiohttp session was left open")
    problems += [f"task {task_id} did not run" for task_id in scenario.expected if task_id not in states]
    # Every scripted outcome happens on the first try: a retry would hide what failed the first one.
    problems += [f"task {task_id} took {count} tries" for task_id, count in tries.items() if count > 1]
    return problems


def clear_outputs(csv_path: Path) -> None:
    """Remove what earlier runs wrote beside the CSV: the operators refuse to overwrite a file without overwrite=True."""
    Path(f"{csv_path}.failed.csv").unlink(missing_ok=True)
    shutil.rmtree(csv_path.parent / "exports", ignore_errors=True)


def run_scenario(scenario: Scenario, env: Mapping[str, str], url: str, csv_path: Path, logs: Path) -> Outcome:
    script_jobs(url, scenario)
    clear_outputs(csv_path)
    log_file = logs / f"{scenario.name}.log"
    logical_date = [scenario.logical_date] if scenario.logical_date else []
    args = ["dags", "test", scenario.dag_id, *logical_date, "--conf", json.dumps(scenario.conf(csv_path))]
    begun = time.monotonic()
    code = run_airflow(args, env, log_file)
    seconds = time.monotonic() - begun
    states, tries, xcoms = latest_run(Path(env["AIRFLOW_HOME"]) / "airflow.db", scenario.dag_id)
    log_text = log_file.read_text(errors="replace")
    summaries = {
        task_id: summarize(state, tries.get(task_id, 0), xcoms.get((task_id, "return_value")), log_text)
        for task_id, state in states.items()
    }
    problems = problems_of(scenario, code, states, tries, log_text)
    problems += [
        f"task {task_id}'s summary does not say {words!r}"
        for task_id, words in scenario.says.items()
        if words not in summaries.get(task_id, "")
    ]
    return Outcome(scenario, states, summaries, seconds, problems)


def print_table(outcomes: Sequence[Outcome], logs: Path) -> None:
    """One row per task: the run's number (the list above), DAG, task, expected and actual state, summary."""
    rows = [("", "#", "DAG", "task", "expected", "actual", "summary")]
    for number, outcome in enumerate(outcomes, 1):
        first = True
        for task_id, expected in outcome.scenario.expected.items():
            actual = outcome.states.get(task_id) or "none"
            rows.append(
                (
                    "ok" if actual == expected else "FAIL",
                    str(number) if first else "",
                    outcome.scenario.dag_id if first else "",
                    task_id,
                    expected,
                    actual,
                    short(outcome.summaries.get(task_id, "")),
                )
            )
            first = False
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
        if index == 0:
            print("  ".join("-" * width for width in widths) + "  " + "-" * SUMMARY_WIDTH)
    for number, outcome in enumerate(outcomes, 1):
        for problem in outcome.problems:
            print(
                f"FAIL {number}. {outcome.scenario.dag_id}: {problem}; log: {logs / (outcome.scenario.name + '.log')}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--airflow-home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")))
    parser.add_argument("scenarios", nargs="*", help="run only these scenarios (names or DAG ids)")
    args = parser.parse_args()
    scenarios = [s for s in SCENARIOS if not args.scenarios or {s.name, s.dag_id} & set(args.scenarios)]
    airflow_home: Path = args.airflow_home.resolve()
    logs = airflow_home / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    csv_path = write_contacts_csv(airflow_home / "demo-data" / "contacts.csv")

    started = time.monotonic()
    emulator, url = start_emulator(logs / "emulator.log")
    print(f"Zoho emulator at {url}; AIRFLOW_HOME={airflow_home}; logs in {logs}", flush=True)
    outcomes: list[Outcome] = []
    try:
        env = airflow_env(airflow_home, url)
        if run_airflow(["db", "migrate"], env, logs / "db-migrate.log") != 0:
            raise SystemExit(f"airflow db migrate failed; see {logs / 'db-migrate.log'}")
        for number, scenario in enumerate(scenarios, 1):
            print(f"{number}. {scenario.dag_id} ({scenario.name}): {scenario.story}", end=" ... ", flush=True)
            outcome = run_scenario(scenario, env, url, csv_path, logs)
            outcomes.append(outcome)
            print(f"{'as expected' if outcome.ok else 'NOT as expected'} ({outcome.seconds:.0f} s)", flush=True)
    finally:
        stop(emulator)
    print()
    print_table(outcomes, logs)
    print(f"\n{len(outcomes)} runs in {time.monotonic() - started:.0f} s.", end=" ")
    if not all(outcome.ok for outcome in outcomes):
        print("Some ended otherwise than scripted (FAIL above).")
        return 1
    print(f"Every task ended in its scripted state. Failed rows of the CRM load: {csv_path}.failed.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
