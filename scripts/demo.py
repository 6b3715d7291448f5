"""``make demo``: run every example DAG against the packaged Zoho emulator and check each task's outcome.

It starts ``python -m airflow_provider_zoho.testing`` on a free loopback port, points the ``zoho_default``
connection at it (``AIRFLOW_CONN_ZOHO_DEFAULT``), and runs each scenario with ``airflow dags test`` (deferred
tasks run their trigger inline there). Every example loads a contacts CSV the demo writes; before each run
the emulator's admin API scripts what Zoho does with the job the run creates: which rows it skips or
refuses (and with which of Zoho's codes) and which states the job walks through. Then it reads every
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
# The emulator's admin endpoints that script the jobs an operator creates, per product (POST {ADMIN_PREFIX}/...).
OUTCOME_ENDPOINTS = frozenset({"bulk_write", "analytics_import", "creator_insert"})


@dataclass(frozen=True)
class Scenario:
    """One run of an example DAG, what Zoho (the emulator) does during it, and the task states that must follow.

    ``outcomes`` is the body posted to the emulator's admin endpoint ``endpoint`` before the run: how the
    job the run's operator creates treats the CSV's rows (by line, the header being line 1) and the states
    it walks through. The run's conf is ``{"file": <the demo's contacts CSV>}``.
    """

    name: str
    dag_id: str
    story: str
    expected: Mapping[str, str]
    endpoint: str
    outcomes: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.endpoint not in OUTCOME_ENDPOINTS:
            raise ValueError(f"scenario {self.name}: endpoint must be one of {sorted(OUTCOME_ENDPOINTS)}")

    @staticmethod
    def conf(csv_path: Path) -> dict[str, str]:
        return {"file": str(csv_path)}


SCRIPT_COMPLETED = ["ADDED", "IN PROGRESS", "COMPLETED"]
ANALYTICS_SKIPPED = (5, 9, 12)  # rows that do not fit the table
CREATOR_REFUSED = range(30, 37)  # 7 records whose Email Creator refuses

SCENARIOS = (
    Scenario(
        name="analytics",
        dag_id="example_zoho_analytics_load",
        story=f"import {CSV_ROWS} contacts with on_error=SKIPROW; {len(ANALYTICS_SKIPPED)} rows do not fit the "
        "table, within max_failed_records=10: success, Zoho's import errors in the summary",
        expected={"load_contacts": "success", "report": "success"},
        endpoint="analytics_import",
        outcomes={"skipped": list(ANALYTICS_SKIPPED), "script": ["1001", "1002", "1004"]},
    ),
    Scenario(
        name="crm",
        dag_id="example_zoho_crm_load",
        story=f"upsert {CSV_ROWS} contacts; 4 do not land, within max_failed_records=10: success, failed rows kept",
        expected={"load_contacts": "success", "report": "success"},
        endpoint="bulk_write",
        outcomes={
            "skipped": {"5": "DUPLICATE_DATA-Email", "9": "INVALID_DATA-Email"},
            "unprocessed": [12],
            "mandatory": ["Last_Name"],
            "script": SCRIPT_COMPLETED,
        },
    ),
    Scenario(
        name="crm-threshold",
        dag_id="example_zoho_crm_load",
        story="the same file again; 12 records are refused, more than max_failed_records=10: the load fails",
        expected={"load_contacts": "failed", "report": "upstream_failed"},
        endpoint="bulk_write",
        outcomes={
            "skipped": {str(line): "INVALID_DATA-Email" for line in range(20, 31)},
            "mandatory": ["Last_Name"],
            "script": SCRIPT_COMPLETED,
        },
    ),
    Scenario(
        name="bigin",
        dag_id="example_zoho_bigin_load",
        story="the operator creates the job and returns; it FAILS, and the soft_fail sensor is skipped",
        expected={"load_contacts": "success", "job_ids": "success", "wait_for_job": "skipped", "report": "skipped"},
        endpoint="bulk_write",
        outcomes={"script": ["ADDED", "IN PROGRESS", "FAILED"]},
    ),
    Scenario(
        name="creator",
        dag_id="example_zoho_creator_load",
        story=f"insert {CSV_ROWS} contacts; {len(CREATOR_REFUSED)} are refused, more than max_failed_records=5: "
        "the load fails with the failure file's reasons, report is not run, alert runs",
        expected={"load_contacts": "failed", "report": "upstream_failed", "alert": "success"},
        endpoint="creator_insert",
        outcomes={
            "failed": {str(line): "Invalid value in the Email field" for line in CREATOR_REFUSED},
            "script": ["In-progress", "Completed"],
        },
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
    """How the jobs the scenario's operator creates from now on treat their rows (the emulator's admin API)."""
    answer = requests.post(f"{url}{ADMIN_PREFIX}/{scenario.endpoint}", json=dict(scenario.outcomes), timeout=30)
    if answer.status_code >= 400:
        raise SystemExit(f"The emulator refused the {scenario.name} outcomes {dict(scenario.outcomes)}: {answer.text}")


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


def run_scenario(scenario: Scenario, env: Mapping[str, str], url: str, csv_path: Path, logs: Path) -> Outcome:
    script_jobs(url, scenario)
    log_file = logs / f"{scenario.name}.log"
    args = ["dags", "test", scenario.dag_id, "--conf", json.dumps(scenario.conf(csv_path))]
    begun = time.monotonic()
    code = run_airflow(args, env, log_file)
    seconds = time.monotonic() - begun
    states, tries, xcoms = latest_run(Path(env["AIRFLOW_HOME"]) / "airflow.db", scenario.dag_id)
    log_text = log_file.read_text(errors="replace")
    summaries = {
        task_id: summarize(state, tries.get(task_id, 0), xcoms.get((task_id, "return_value")), log_text)
        for task_id, state in states.items()
    }
    return Outcome(scenario, states, summaries, seconds, problems_of(scenario, code, states, tries, log_text))


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
