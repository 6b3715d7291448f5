"""``make test-cluster``: the provider on a production-shaped Airflow cluster, broken with kill -9.

Parts, each a process of its own on this machine, every socket on 127.0.0.1:

* PostgreSQL (the metadata database) and Redis (the Celery broker), on free ports, data in a temp folder;
  PostgreSQL runs as an unprivileged user (``postgres``) when this runs as root, since it refuses root;
* Airflow 3 with the CeleryExecutor: api-server, scheduler, dag-processor, two triggerers and two Celery
  workers. The workers share no disk: each has its own AIRFLOW_HOME, HOME and TMPDIR, its own copy of the
  DAG and of the CSV files, and no metadata-database settings (Airflow 3 workers talk to the API server);
* the Zoho emulator, in this process, enforcing Zoho's token limit (10 token requests per 10 minutes per
  refresh token, then ``Access Denied``).

Work: ``zoho_cluster_load`` (``dags/zoho_cluster_load.py``): a CRM bulk write load mapped over 12 CSV files
(poke mode: each waits on its worker for a job that runs about a minute) and a deferrable CRM sensor mapped
over 12 jobs that each run about a minute (the emulator reports them IN PROGRESS until a minute after the
sensor first asked, then COMPLETED).

Faults: kill -9 of every process of the triggerer holding most of the sensors' triggers while they wait
(the other triggerer must take them over), and kill -9 of every process of the worker running most of the
loads while they wait (then it is started again, with the same folders, as a rebooted machine would be).

Pass, printed as counts at the end: every task succeeds; no file is uploaded and created twice unless a
worker kill fell within ``CREATE_KILL_WINDOW`` seconds after that file's first create answer (between
Zoho's answer and the id being stored); every record lands exactly once; at most ``TOKEN_BAR`` token
requests for the whole run. The faults must have happened too. Exit status 0 only then.

Every wait is bounded, every process started is stopped on the way out (whatever happens), and the run
folder is removed unless the run failed or ``--keep`` is given. Run it with the cluster virtualenv's
interpreter (``.venv-cluster/bin/python scripts/cluster/run.py``): ``airflow`` is taken from its ``bin``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import ctypes
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
from cryptography.fernet import Fernet

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import Outcomes

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
DAG_ID = "zoho_cluster_load"
DAG_FILE = HERE / "dags" / f"{DAG_ID}.py"

FILES = 12  # as in the DAG
SENSOR_JOBS = 12
ROWS_PER_FILE = 40
POLL_INTERVAL = 5.0  # seconds between status polls, loads and sensors alike (the DAG reads it from the env)
JOB_SECONDS = 60.0  # how long each job runs, about
# The loads' jobs: ADDED, then IN PROGRESS for about JOB_SECONDS of polls, then COMPLETED.
LOAD_SCRIPT = ("ADDED", *["IN PROGRESS"] * round(JOB_SECONDS / POLL_INTERVAL), "COMPLETED")
SENSOR_JOB_BASE = 710_000_000_000_000_000
TOKEN_BAR = 2
# A file created twice is excused only when a worker kill fell this soon after its first create answer:
# the operator stores the id within a round trip of the answer, so a later kill leaves it stored.
CREATE_KILL_WINDOW = 3.0
WORKER_CONCURRENCY = 8
WORKERS = ("worker1", "worker2")
TRIGGERERS = ("triggerer1", "triggerer2")

# Bounds (seconds): nothing waits longer than these.
SETUP_TIMEOUT = 60.0
MIGRATE_TIMEOUT = 300.0
STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 420.0  # from the trigger of the DAG run to its end
FAULT_TIMEOUT = 200.0  # from the trigger: a fault whose moment has not come by then is not injected
WORKER_RESTART_DELAY = 5.0
STABLE_ASSIGNMENT = 10.0  # the sensors' triggers must stay where they are this long before the triggerer kill
STOP_GRACE = 10.0
MONITOR_INTERVAL = 0.25
LOG_TAIL_LINES = 60

# Airflow's timings, shortened so that a kill is noticed within the run (production keeps the defaults):
# a task without a heartbeat for 30 s is failed (and retried), a triggerer silent for 15 s loses its triggers.
HEARTBEAT_TIMEOUT = 30
TRIGGERER_HEALTH_THRESHOLD = 15

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)
_T = TypeVar("_T")
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


class Failure(Exception):
    """The harness could not do what it must (not a failed pass criterion: those are counted and printed)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], _T | None], timeout: float, interval: float = 0.5) -> _T:
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:  # kept, and reported on timeout
            last_error, result = error, None
        if result:
            return result
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})")


# -- processes ---------------------------------------------------------------------------------------------
def _children_of(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (children, their children...)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in tree:
            continue
        tree.append(current)
        todo.extend(_children_of(current))
    return tree


def _signal(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_tree(pid: int) -> list[int]:
    """kill -9 a whole machine's worth of processes: freeze the tree (so none forks or reparents away), then
    SIGKILL every process in it. Returns the pids killed."""
    frozen: list[int] = []
    for _ in range(5):  # a process may fork between listing and stopping: list again until stable
        tree = process_tree(pid)
        _signal([p for p in tree if p not in frozen], signal.SIGSTOP)
        frozen = list(dict.fromkeys([*frozen, *tree]))
        if set(process_tree(pid)) <= set(frozen):
            break
    _signal(frozen, signal.SIGKILL)
    return frozen


def _in_child(uid: int | None) -> Callable[[], None]:
    def prepare() -> None:
        # Killed with this driver whatever ends it (runs after the uid change, which would clear it).
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return prepare


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    kind: str  # "airflow" or "service": airflow parts stop first, the services they use after


class Processes:
    """Every process this driver starts. The driver is a child subreaper, so whatever they leave behind
    (a task runner whose supervisor died) stays below it and is stopped too."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: dict[str, Proc] = {}
        self.retired: list[Proc] = []  # killed and replaced (a restarted worker)
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        kind: str = "airflow",
        user: str | None = None,
    ) -> Proc:
        log = self.logs / f"{name}.log"
        uid = pwd.getpwnam(user).pw_uid if user else None
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=uid,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
                preexec_fn=_in_child(uid),
            )
        if name in self.procs:
            self.retired.append(self.procs[name])
        self.procs[name] = Proc(name, popen, log, kind)
        return self.procs[name]

    def kill9(self, name: str) -> list[int]:
        proc = self.procs[name]
        killed = kill_tree(proc.popen.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(10)
        self.reap()
        return killed

    def check_alive(self, names: Sequence[str]) -> None:
        for name in names:
            code = self.procs[name].popen.poll()
            if code is not None:
                raise Failure(f"{name} exited early with code {code} (log: {self.procs[name].log})")

    def reap(self) -> None:
        """Collect orphans that died below this subreaper; a child a Popen owns is left to its Popen."""
        owners = {proc.popen.pid: proc.popen for proc in [*self.procs.values(), *self.retired]}
        for _ in range(1000):  # bounded: each round reaps one dead child
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            owner = owners.get(info.si_pid)
            if owner is not None:
                owner.poll()
                if owner.returncode is None:
                    return
                continue
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)

    def stop_all(self) -> None:
        """SIGTERM the Airflow parts, then SIGKILL what is left of them; then the services the same way (the
        database last, with PostgreSQL's fast shutdown); then SIGKILL anything still below this process."""
        for kind, sig in (("airflow", signal.SIGTERM), ("service", None)):
            procs = [p for p in self.procs.values() if p.kind == kind and p.popen.poll() is None]
            for proc in procs:
                # PostgreSQL: SIGINT is its fast shutdown (SIGTERM would wait for every client to leave).
                _signal([proc.popen.pid], signal.SIGINT if proc.name == "postgres" else (sig or signal.SIGTERM))
            deadline = time.monotonic() + STOP_GRACE
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(max(0.1, deadline - time.monotonic()))
            for proc in [p for p in [*self.procs.values(), *self.retired] if p.kind == kind]:
                kill_tree(proc.popen.pid)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.popen.wait(5)
        for _ in range(3):
            leftovers = [pid for pid in process_tree(os.getpid()) if pid != os.getpid()]
            if not leftovers:
                break
            _signal(leftovers, signal.SIGKILL)
            time.sleep(0.2)
            self.reap()
        self.reap()


# -- PostgreSQL and Redis ----------------------------------------------------------------------------------
def postgres_bin() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise Failure("no PostgreSQL server binaries (looked under /usr/lib/postgresql/*/bin and on PATH)")


def postgres_user() -> str | None:
    """Who runs PostgreSQL: ourselves unless we are root, which it refuses; then ``postgres`` or ``nobody``."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise Failure("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def start_postgres(procs: Processes, run: Path, port: int) -> str:
    """An empty cluster under ``run/pg`` on 127.0.0.1:``port``; the SQLAlchemy URL of its ``airflow`` database."""
    bindir, user = postgres_bin(), postgres_user()
    data, sockets = run / "pg" / "data", run / "pg" / "sockets"
    sockets.mkdir(parents=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (run / "pg", sockets):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"]
    done = subprocess.run(
        initdb,
        env=env,
        cwd=run / "pg",
        user=user,
        group=pwd.getpwnam(user).pw_gid if user else None,
        extra_groups=[] if user else None,
        capture_output=True,
        timeout=SETUP_TIMEOUT,
    )
    if done.returncode:
        raise Failure(
            f"initdb failed ({done.returncode}): {done.stdout.decode()[-2000:]}{done.stderr.decode()[-2000:]}"
        )
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(sockets),
        "max_connections": "300",
        # A throwaway database: durability off, speed on.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    argv = [str(bindir / "postgres"), "-D", str(data), *[f"-c{key}={value}" for key, value in settings.items()]]
    procs.start("postgres", argv, env, run / "pg", kind="service", user=user)

    def ready() -> bool:
        procs.check_alive(["postgres"])
        with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")):
            return True

    wait_for("PostgreSQL to accept connections", ready, SETUP_TIMEOUT)
    with contextlib.closing(psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")) as db:
        db.autocommit = True
        with db.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
    return f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"


def start_redis(procs: Processes, run: Path, port: int) -> str:
    server = shutil.which("redis-server")
    if server is None:
        raise Failure("no redis-server on PATH")
    folder = run / "redis"
    folder.mkdir()
    argv = [
        server,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(folder),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    procs.start("redis", argv, {"PATH": os.environ.get("PATH", "")}, folder, kind="service")

    def ready() -> bool:
        procs.check_alive(["redis"])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

    wait_for("Redis to answer PING", ready, SETUP_TIMEOUT)
    return f"redis://127.0.0.1:{port}/0"


# -- Airflow -----------------------------------------------------------------------------------------------
@dataclass
class Cluster:
    run: Path
    db_url: str
    broker_url: str
    api_port: int
    emulator_url: str
    connection: str
    procs: Processes
    fernet_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    secret: str = field(default_factory=lambda: os.urandom(16).hex())
    jwt_secret: str = field(default_factory=lambda: os.urandom(16).hex())
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def home(self, name: str) -> Path:
        return self.run / "hosts" / name

    def prepare_host(self, name: str, data: bool) -> Path:
        """A machine's own folders: AIRFLOW_HOME (with the DAG), HOME, TMPDIR, and the CSV files if asked."""
        home = self.home(name)
        for sub in ("airflow/dags", "home", "tmp"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(DAG_FILE, home / "airflow" / "dags" / DAG_FILE.name)
        if data:
            write_files(home / "data")
        return home

    def env(self, name: str, *, database: bool) -> dict[str, str]:
        home = self.home(name)
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "ZOHO_", "PYTHON")) and key not in ("HOME", "TMPDIR", "VIRTUAL_ENV")
        }
        env = {
            **inherited,
            "HOME": str(home / "home"),
            "TMPDIR": str(home / "tmp"),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(HERE)]),
            "PYTHONUNBUFFERED": "1",
            "AIRFLOW_HOME": str(home / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "airflow" / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": "64",
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "cluster_host.hostname",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__SECRET_KEY": self.secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.db_url.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW_CONN_ZOHO_DEFAULT": self.connection,
            "ZOHO_CLUSTER_HOST": name,
            "ZOHO_CLUSTER_DATA": str(home / "data"),
            "ZOHO_CLUSTER_POLL_INTERVAL": str(POLL_INTERVAL),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        if database:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.db_url
        return {**env, **self.extra_env}

    def start(self, name: str, *args: str, database: bool = True) -> Proc:
        return self.procs.start(name, [AIRFLOW, *args], self.env(name, database=database), self.home(name))

    def start_worker(self, name: str) -> Proc:
        # No database settings: an Airflow 3 worker reaches the metadata only through the API server.
        return self.start(
            name,
            "celery",
            "worker",
            "--concurrency",
            str(WORKER_CONCURRENCY),
            "--celery-hostname",
            f"{name}@%h",
            "--skip-serve-logs",
            database=False,
        )

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}/api/v2{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            raise Failure(f"{method} {path} -> {error.code}: {error.read()[:2000]!r}") from None


def write_files(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(1, FILES + 1):
        with (folder / f"contacts_{number:02d}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Last_Name", "First_Name", "Email"])
            writer.writerows([f"Boyle{number}x{row}", f"Pat{row}", email(number, row)] for row in range(ROWS_PER_FILE))


def email(file_number: int, row: int) -> str:
    return f"pat{row}.file{file_number:02d}@example.com"


def file_of(csv_text: str) -> int:
    """Which of the files an upload holds (its first record's email names it)."""
    rows = list(csv.reader(csv_text.splitlines()))
    address = rows[1][2]
    return int(address.split(".file", 1)[1].split("@", 1)[0])


# -- observing the run -------------------------------------------------------------------------------------
@dataclass
class Observed:
    """What the monitor saw, with each moment in seconds since the DAG run was triggered."""

    creates_seen: dict[str, float] = field(default_factory=dict)  # job id -> first seen
    uploads_seen: dict[str, float] = field(default_factory=dict)
    first_status: dict[str, float] = field(default_factory=dict)  # sensor job id -> first status GET
    completed_sensor_jobs: set[str] = field(default_factory=set)
    token_moments: list[float] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    takeover: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class Monitor(threading.Thread):
    """Watches the emulator (creates, uploads, token requests) and finishes each sensor job a minute after the
    sensor first asked about it, but not before the triggerer kill has played out."""

    def __init__(self, emulator: ZohoEmulator, sensor_jobs: Sequence[str], started: float) -> None:
        super().__init__(name="monitor", daemon=True)
        self.emulator = emulator
        self.sensor_jobs = list(sensor_jobs)
        self.started = started
        self.observed = Observed()
        self.stopping = threading.Event()
        # Set once the triggerer kill has played out (or can no longer happen): the sensor jobs end only then,
        # so the sensors are still waiting when their triggerer dies and when the other one takes them over.
        self.fault_done = threading.Event()
        self.lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.started

    def run(self) -> None:
        tokens_seen = 0
        while not self.stopping.wait(MONITOR_INTERVAL):
            try:
                now = self.now()
                with self.lock:
                    for job in self.emulator.created_jobs():
                        self.observed.creates_seen.setdefault(job.job_id, now)
                    for upload in self.emulator.uploads():
                        self.observed.uploads_seen.setdefault(upload.file_id, now)
                    tokens = self.emulator.token_requests()
                    self.observed.token_moments.extend([now] * (tokens - tokens_seen))
                    tokens_seen = tokens
                    for job_id in self.sensor_jobs:
                        if job_id in self.observed.completed_sensor_jobs:
                            continue
                        if job_id not in self.observed.first_status and self.emulator.status_requests(job_id):
                            self.observed.first_status[job_id] = now
                        first = self.observed.first_status.get(job_id)
                        if first is not None and now - first >= JOB_SECONDS and self.fault_done.is_set():
                            self.emulator.add_job("crm_bulk_write", job_id, ["COMPLETED"], counts=SENSOR_COUNTS)
                            self.observed.completed_sensor_jobs.add(job_id)
            except Exception as error:  # reported at the end; the monitor goes on
                self.observed.errors.append(repr(error))


SENSOR_COUNTS = {"added_count": 10, "updated_count": 0, "skipped_count": 0, "total_count": 10}


class Metadata:
    """Read-only queries on the metadata database."""

    def __init__(self, port: int) -> None:
        self.db = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="airflow")
        self.db.autocommit = True

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.db.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def tis(self, run_id: str) -> list[tuple[str, int, str | None, int, str | None, int | None]]:
        return self.rows(  # type: ignore[return-value]
            "SELECT task_id, map_index, state, try_number, hostname, trigger_id FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index",
            DAG_ID,
            run_id,
        )

    def run_state(self, run_id: str) -> str:
        [(state,)] = self.rows("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
        return str(state)

    def sensor_triggers(self, run_id: str) -> dict[int, tuple[int | None, int, int]]:
        """Trigger id -> (the triggerer job id holding it, map index, try), for the sensors deferred now."""
        rows = self.rows(
            "SELECT t.id, t.triggerer_id, ti.map_index, ti.try_number FROM task_instance ti "
            "JOIN trigger t ON t.id = ti.trigger_id "
            "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = 'wait' AND ti.state = 'deferred'",
            DAG_ID,
            run_id,
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    def triggerer_heartbeat_ages(self) -> dict[int, float]:
        """Seconds since each running triggerer's last heartbeat."""
        rows = self.rows(
            "SELECT id, EXTRACT(EPOCH FROM (now() - latest_heartbeat)) FROM job "
            "WHERE job_type = 'TriggererJob' AND state = 'running'"
        )
        return {row[0]: float(row[1]) for row in rows}

    def triggerer_hosts(self) -> dict[int, str]:
        return {row[0]: row[1] for row in self.rows("SELECT id, hostname FROM job WHERE job_type = 'TriggererJob'")}

    def history(self, run_id: str) -> list[tuple[str, int, int, str | None, str | None]]:
        return self.rows(  # type: ignore[return-value]
            "SELECT task_id, map_index, try_number, state, hostname FROM task_instance_history "
            "WHERE dag_id = %s AND run_id = %s ORDER BY task_id, map_index, try_number",
            DAG_ID,
            run_id,
        )


# -- the run -----------------------------------------------------------------------------------------------
def start_cluster(cluster: Cluster) -> None:
    control = "control"  # api-server, scheduler and dag-processor: one machine, the database's clients
    cluster.prepare_host(control, data=False)
    for name in TRIGGERERS:
        cluster.prepare_host(name, data=False)
    for name in WORKERS:
        cluster.prepare_host(name, data=True)
    say("airflow db migrate (PostgreSQL)")
    with (cluster.procs.logs / "db-migrate.log").open("wb") as log:
        done = subprocess.run(
            [AIRFLOW, "db", "migrate"],
            env=cluster.env(control, database=True),
            cwd=cluster.home(control),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=MIGRATE_TIMEOUT,
        )
    if done.returncode:
        raise Failure(f"airflow db migrate failed ({done.returncode}): see {cluster.procs.logs / 'db-migrate.log'}")
    cluster.procs.start(
        "api-server",
        [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(cluster.api_port), "--workers", "1"],
        cluster.env(control, database=True),
        cluster.home(control),
    )
    cluster.procs.start(
        "scheduler",
        [AIRFLOW, "scheduler", "--skip-serve-logs"],
        cluster.env(control, database=True),
        cluster.home(control),
    )
    cluster.procs.start(
        "dag-processor", [AIRFLOW, "dag-processor"], cluster.env(control, database=True), cluster.home(control)
    )
    for name in TRIGGERERS:
        cluster.start(name, "triggerer", "--skip-serve-logs")
    for name in WORKERS:
        cluster.start_worker(name)
    names = ["api-server", "scheduler", "dag-processor", *TRIGGERERS, *WORKERS]

    def healthy() -> bool:
        cluster.procs.check_alive(names)
        health = cluster.api("GET", "/monitor/health", timeout=5)
        keys = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(health.get(key, {}).get("status") == "healthy" for key in keys)

    wait_for("every component to report healthy", healthy, STARTUP_TIMEOUT, interval=1)

    def workers_ready() -> bool:
        cluster.procs.check_alive(names)
        return all(" ready." in cluster.procs.procs[name].log.read_text(errors="replace") for name in WORKERS)

    wait_for("both Celery workers to be ready", workers_ready, STARTUP_TIMEOUT, interval=1)
    wait_for(f"{DAG_ID} to be parsed", lambda: cluster.api("GET", f"/dags/{DAG_ID}", timeout=5), STARTUP_TIMEOUT, 1)
    say("cluster healthy: api-server, scheduler, dag-processor, 2 triggerers, 2 Celery workers")


def drive(cluster: Cluster, emulator: ZohoEmulator, metadata: Metadata) -> dict[str, Any]:
    """Trigger the run, inject both faults at their moments, wait for the run to end; what was seen."""
    sensor_jobs = [str(SENSOR_JOB_BASE + number) for number in range(1, SENSOR_JOBS + 1)]
    emulator.add_jobs(
        [{"kind": "crm_bulk_write", "job_id": job_id, "script": ["IN PROGRESS"]} for job_id in sensor_jobs]
    )
    emulator.set_bulk_write_outcomes(Outcomes(script=LOAD_SCRIPT))
    tokens_before = emulator.token_requests()
    answer = cluster.api("POST", f"/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"jobs": sensor_jobs}})
    run_id = answer["dag_run_id"]
    monitor = Monitor(emulator, sensor_jobs, time.monotonic())
    monitor.start()
    observed = monitor.observed
    say(f"triggered {run_id}: 12 loads (poke mode) and 12 deferrable sensors")
    hosts_by_job: dict[int, str] = {}
    held: dict[int, int | None] = {}
    last_assignment: dict[int, int | None] = {}
    assignment_since = last_note = 0.0
    victim_job: int | None = None
    worker_killed: str | None = None
    restart_at: float | None = None
    last_states = ""
    state = "running"
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = monitor.now()
            cluster.procs.reap()
            tis = metadata.tis(run_id)
            states = Counter(f"{task}:{ti_state}" for task, _, ti_state, *_ in tis)
            summary = ", ".join(f"{key} {count}" for key, count in sorted(states.items()))
            if summary != last_states:
                say(f"tasks: {summary}")
                last_states = summary

            # Fault 1: the triggerer holding most sensor triggers, once the sensors all wait in triggerers, the
            # assignment has held for a while and every triggerer heartbeats (a triggerer that misses its
            # heartbeats loses its triggers to the other without any kill: that would not test the kill).
            triggers = metadata.sensor_triggers(run_id)
            assignment = {t: j for t, (j, _, _) in triggers.items()}
            if assignment != last_assignment:
                last_assignment, assignment_since = assignment, now
            if not any(k["what"] == "triggerer" for k in observed.kills) and now < FAULT_TIMEOUT:
                assigned = {t: j for t, j in assignment.items() if j is not None}
                beats = metadata.triggerer_heartbeat_ages()
                fresh = len([age for age in beats.values() if age < TRIGGERER_HEALTH_THRESHOLD - 5]) >= len(TRIGGERERS)
                if now - last_note >= 10:
                    last_note = now
                    say(
                        f"triggerer kill waits: {len(assigned)} triggers assigned, unchanged for "
                        f"{now - assignment_since:.0f} s, heartbeat ages {sorted(round(a) for a in beats.values())}"
                    )
                if len(assigned) >= SENSOR_JOBS - 2 and now - assignment_since >= STABLE_ASSIGNMENT and fresh:
                    hosts_by_job = metadata.triggerer_hosts()
                    victim_job, _count = Counter(assigned.values()).most_common(1)[0]
                    victim = hosts_by_job.get(victim_job)
                    if victim in TRIGGERERS:
                        held = {t: j for t, j in assigned.items() if j == victim_job}
                        held_tis = [(triggers[t][1], triggers[t][2]) for t in held]
                        killed = cluster.procs.kill9(victim)
                        observed.kills.append(
                            {
                                "what": "triggerer",
                                "name": victim,
                                "at": now,
                                "wall": time.time(),
                                "triggers": len(held),
                                "tis": held_tis,
                                "pids": len(killed),
                            }
                        )
                        say(f"kill -9 {victim} ({len(killed)} processes) holding {len(held)} of the sensors' triggers")
            if victim_job is not None and observed.takeover.get("all_at") is None:
                moved = {t: j for t, j in assignment.items() if t in held and j not in (None, victim_job)}
                gone = [t for t in held if t not in assignment]  # fired and cleaned up: someone ran them
                kill_at = next(k["at"] for k in observed.kills if k["what"] == "triggerer")
                by = {hosts_by_job.get(j, str(j)) for j in moved.values()}
                observed.takeover.update(moved=len(moved), by=by, gone=len(gone))
                if moved and "first_at" not in observed.takeover:
                    observed.takeover["first_at"] = now - kill_at
                    hosts_by_job = metadata.triggerer_hosts()
                    say(
                        f"{len(moved)} of the killed triggerer's triggers taken over {now - kill_at:.1f} s after the kill"
                    )
                if len(moved) + len(gone) >= len(held):
                    monitor.fault_done.set()
                    observed.takeover["all_at"] = now - kill_at
                    say(f"all {len(held)} triggers taken over or done {now - kill_at:.1f} s after the kill")

            if now >= FAULT_TIMEOUT and not monitor.fault_done.is_set():
                monitor.fault_done.set()
                say("the triggerer kill has not played out in time: the sensor jobs may end")

            # Fault 2: the worker running most loads, once those loads' jobs exist and the loads wait for them.
            if worker_killed is None and now < FAULT_TIMEOUT:
                running = Counter(host for task, _, s, _, host, _ in tis if task == "load" and s == "running")
                if running and len(observed.creates_seen) >= FILES // 2:
                    host, count = running.most_common(1)[0]
                    newest_create = max(observed.creates_seen.values())
                    if host in WORKERS and count >= 3 and now - newest_create >= 2 * POLL_INTERVAL:
                        killed = cluster.procs.kill9(host)
                        worker_killed, restart_at = host, now + WORKER_RESTART_DELAY
                        observed.kills.append(
                            {"what": "worker", "name": host, "at": now, "running_loads": count, "pids": len(killed)}
                        )
                        say(f"kill -9 {host} ({len(killed)} processes) while {count} loads run on it")
            if restart_at is not None and now >= restart_at and worker_killed is not None:
                cluster.start_worker(worker_killed)
                say(f"{worker_killed} started again")
                restart_at = None

            alive = ["api-server", "scheduler", "dag-processor", *WORKERS, *TRIGGERERS]
            dead = {k["name"] for k in observed.kills if k["what"] == "triggerer"}
            if restart_at is not None:
                dead.add(worker_killed or "")
            cluster.procs.check_alive([name for name in alive if name not in dead])

            state = metadata.run_state(run_id)
            if state in ("success", "failed"):
                break
        else:
            state = f"not finished after {RUN_TIMEOUT:.0f} s"
        run_seconds = monitor.now()
    finally:
        monitor.stopping.set()
        monitor.join(5)
    say(f"DAG run {state} after {run_seconds:.0f} s")
    return {
        "run_id": run_id,
        "state": state,
        "seconds": run_seconds,
        "observed": observed,
        "tokens_before": tokens_before,
        "sensor_jobs": sensor_jobs,
        "run": cluster.run,
    }


def verdict(emulator: ZohoEmulator, metadata: Metadata, outcome: Mapping[str, Any]) -> bool:
    """Print the counts and whether each criterion holds; True when all do."""
    observed: Observed = outcome["observed"]
    run_id = outcome["run_id"]
    checks: list[tuple[str, bool, str]] = []

    # Task states.
    tis = metadata.tis(run_id)
    states = Counter((task, state) for task, _, state, *_ in tis)
    tries = Counter((task, try_number) for task, _, _, try_number, *_ in tis)
    not_ok = [f"{task}[{index}] {state}" for task, index, state, *_ in tis if state != "success"]
    expected = 1 + FILES + SENSOR_JOBS
    checks.append(
        (
            "every task succeeds",
            not not_ok and len(tis) == expected and outcome["state"] == "success",
            f"run {outcome['state']}; {len(tis)} task instances (expected {expected}): "
            + ", ".join(f"{task} {state}: {count}" for (task, state), count in sorted(states.items(), key=str))
            + (f"; not succeeded: {', '.join(not_ok)}" if not_ok else ""),
        )
    )
    print("tries per task: " + ", ".join(f"{task} try {n}: {c}" for (task, n), c in sorted(tries.items())))
    history = metadata.history(run_id)
    for task, index, try_number, state, host in history:
        print(f"  earlier try: {task}[{index}] try {try_number} {state} on {host}")

    # Creates and uploads per file.
    uploads = {upload.file_id: upload for upload in emulator.uploads()}
    uploads_per_file = Counter(file_of(upload.csv_text) for upload in uploads.values())
    creates: dict[int, list[str]] = {}
    for job in sorted(emulator.created_jobs(), key=lambda j: observed.creates_seen.get(j.job_id, 1e9)):
        file_id = str(job.body["resource"][0]["file_id"])
        creates.setdefault(file_of(uploads[file_id].csv_text), []).append(job.job_id)
    worker_kills = [k for k in observed.kills if k["what"] == "worker"]
    unexcused, excused = [], []
    for number in range(1, FILES + 1):
        jobs = creates.get(number, [])
        if len(jobs) > 1:
            first = observed.creates_seen.get(jobs[0], 0.0)
            near = [k for k in worker_kills if 0 <= k["at"] - first <= CREATE_KILL_WINDOW]
            (excused if near else unexcused).append(f"file {number:02d}: {len(jobs)} creates")
    histogram = Counter(len(creates.get(number, [])) for number in range(1, FILES + 1))
    checks.append(
        (
            "no file created twice but where a kill fell between Zoho's create answer and the id being stored",
            not unexcused and all(creates.get(n) for n in range(1, FILES + 1)),
            "files by creates: "
            + ", ".join(f"{count} file(s) {n}x" for n, count in sorted(histogram.items()))
            + "; uploads per file: "
            + ", ".join(f"{count} file(s) {n}x" for n, count in sorted(Counter(uploads_per_file.values()).items()))
            + (f"; excused: {excused}" if excused else "")
            + (f"; NOT excused: {unexcused}" if unexcused else ""),
        )
    )

    # Records: every row of every file added exactly once (a repeated write shows as an update).
    added: Counter[str] = Counter()
    updated: Counter[str] = Counter()
    for job in emulator.created_jobs():
        for row in job.rows:
            address, status = row[2], row[-3]
            if status == "added":
                added[address] += 1
            elif status == "updated":
                updated[address] += 1
    wanted = {email(n, r) for n in range(1, FILES + 1) for r in range(ROWS_PER_FILE)}
    once = sum(1 for address in wanted if added[address] == 1)
    twice = sum(1 for address in wanted if added[address] > 1)
    missing = sum(1 for address in wanted if added[address] == 0)
    checks.append(
        (
            "every record lands once",
            once == len(wanted) and not twice,
            f"{once} of {len(wanted)} records added once, {twice} added more than once, {missing} never; "
            f"{sum(updated.values())} rewritten by a repeated job",
        )
    )

    # Tokens.
    stats = emulator.stats()
    requests, granted = stats["token_requests"], stats["issued_tokens"]
    moments = ", ".join(f"+{moment:.1f}s" for moment in observed.token_moments)
    checks.append(
        (
            f"at most {TOKEN_BAR} token requests for the whole run",
            requests <= TOKEN_BAR,
            f"{requests} token requests ({granted} granted, {requests - granted} refused"
            f"{', at ' + moments if moments else ''}; {outcome['tokens_before']} before the run)",
        )
    )

    # Faults.
    triggerer_kill = next((k for k in observed.kills if k["what"] == "triggerer"), None)
    takeover = observed.takeover
    if triggerer_kill is None:
        detail, ok = "not injected (the sensors' triggers never sat still in heartbeating triggerers in time)", False
    else:
        survivor = next(name for name in TRIGGERERS if name != triggerer_kill["name"])
        restarted = [
            (index, attempt)
            for index, attempt in triggerer_kill["tis"]
            if any(t > triggerer_kill["wall"] for t in trigger_starts(outcome["run"], survivor, run_id, index, attempt))
        ]
        ok = takeover.get("all_at") is not None and len(restarted) == triggerer_kill["triggers"]
        detail = (
            f"kill -9 {triggerer_kill['name']} at +{triggerer_kill['at']:.0f}s holding {triggerer_kill['triggers']} "
            f"triggers; the database gave {takeover.get('moved', 0)} to {sorted(takeover.get('by', set()))}, "
            f"first {takeover.get('first_at', float('nan')):.1f} s and all {takeover.get('all_at', float('nan')):.1f} s "
            f"after the kill; {survivor}'s logs show {len(restarted)} of them started there after the kill"
        )
    checks.append(("a triggerer killed while the sensors wait; the other takes their triggers over", ok, detail))
    worker_kill = worker_kills[0] if worker_kills else None
    checks.append(
        (
            "a worker killed while loads run, then started again",
            worker_kill is not None,
            "not injected (no worker ran 3 loads waiting on their jobs in time)"
            if worker_kill is None
            else f"kill -9 {worker_kill['name']} at +{worker_kill['at']:.0f}s ({worker_kill['pids']} processes) "
            f"while {worker_kill['running_loads']} loads ran on it",
        )
    )
    if observed.errors:
        checks.append(("the monitor ran without errors", False, "; ".join(observed.errors[:5])))

    print()
    print(
        f"===== test-cluster counts (run {outcome['seconds']:.0f} s, whole harness {time.monotonic() - STARTED:.0f} s) ====="
    )
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}\n      {detail}")
    # Not a criterion: a triggerer that misses its heartbeats past the threshold loses its triggers to the other
    # while it still runs them (they then run twice).
    gaps = heartbeat_gaps(outcome["run"] / "logs")
    print(f"INFO  heartbeats missed past the health threshold: {', '.join(gaps) if gaps else 'none'}")
    return all(ok for _, ok, _ in checks)


def trigger_starts(run: Path, host: str, run_id: str, map_index: int, attempt: int) -> list[float]:
    """When ``host``'s triggerer started the trigger of sensor ``map_index``'s try ``attempt`` (epoch seconds)."""
    folder = run / "hosts" / host / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=wait"
    moments = []
    for path in (folder / f"map_index={map_index}").glob(f"attempt={attempt}.log.trigger.*.log"):
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                event = json.loads(line)
                if str(event.get("event", "")).endswith(" starting"):
                    moments.append(datetime.fromisoformat(event["timestamp"]).timestamp())
    return moments


def heartbeat_gaps(logs: Path) -> list[str]:
    """Each "Heartbeat recovered after N seconds" an Airflow job logged: a scheduler or triggerer that stalled."""
    gaps = []
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if "Heartbeat recovered after" in line:
                seconds = line.split("Heartbeat recovered after", 1)[1].split()[0]
                gaps.append(f"{path.stem} {seconds} s")
    return gaps


def dump_logs(procs: Processes, run: Path) -> None:
    files = sorted(procs.logs.glob("*.log")) + sorted(
        path for path in (run / "hosts").rglob("*.log") if "dag_id=" in str(path) or "triggerer" in path.name
    )
    for path in files:
        lines = path.read_text(errors="replace").splitlines()
        print(f"\n===== {path} (last {min(len(lines), LOG_TAIL_LINES)} of {len(lines)} lines) =====")
        print("\n".join(lines[-LOG_TAIL_LINES:]))


@contextlib.contextmanager
def signals_as_exit() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C: through the ``finally`` that stops every process."""

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the run folder (logs, data) even on success")
    parser.add_argument("--logs", action="store_true", help="print the components' log tails even on success")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra environment variable for every Airflow component, e.g. "
        "AIRFLOW__ZOHO__SHARE_TOKENS_THROUGH_VARIABLES=False (repeatable)",
    )
    args = parser.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.set)
    if not Path(AIRFLOW).exists():
        print(f"no airflow next to {sys.executable}: run this with the cluster virtualenv's python", file=sys.stderr)
        return 2
    run = Path(tempfile.mkdtemp(prefix="zoho-cluster-"))
    run.chmod(0o755)  # PostgreSQL's user must reach its folder below
    (run / "logs").mkdir()
    procs = Processes(run / "logs")
    emulator = ZohoEmulator(token_limit_per_window=10, token_window_seconds=600)
    passed = False
    say(f"run folder {run}")
    try:
        with signals_as_exit():
            db_url = start_postgres(procs, run, free_port())
            broker_url = start_redis(procs, run, free_port())
            say("PostgreSQL and Redis up")
            emulator.add_client(*ZohoEmulator.DEFAULT_CLIENT)
            emulator.start()
            say(f"Zoho emulator at {emulator.base_url}, token limit 10 per 600 s")
            cluster = Cluster(
                run=run,
                db_url=db_url,
                broker_url=broker_url,
                api_port=free_port(),
                emulator_url=emulator.base_url,
                connection=emulator.airflow_connection(),
                procs=procs,
                extra_env=extra_env,
            )
            start_cluster(cluster)
            metadata = Metadata(int(db_url.rsplit(":", 1)[1].split("/", 1)[0]))
            try:
                outcome = drive(cluster, emulator, metadata)
                passed = verdict(emulator, metadata, outcome)
            finally:
                metadata.db.close()
    except (Failure, subprocess.TimeoutExpired, psycopg2.Error, OSError) as error:
        print(f"\ntest-cluster could not complete: {error}", flush=True)
    except KeyboardInterrupt as interrupt:
        print(f"\ntest-cluster interrupted ({interrupt or 'Ctrl-C'})", flush=True)
    finally:
        if not passed or args.logs:
            with contextlib.suppress(Exception):
                dump_logs(procs, run)
        say("stopping every process")
        procs.stop_all()
        emulator.stop()
        if passed and not args.keep:
            shutil.rmtree(run, ignore_errors=True)
        else:
            print(f"run folder kept: {run}")
    print(f"test-cluster {'passed' if passed else 'FAILED'} in {time.monotonic() - STARTED:.0f} s", flush=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
