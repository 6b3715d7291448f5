"""Load a file into a Zoho Analytics table with an asynchronous import job (Analytics API v2), and wait.

One file, one job: into an existing table (``view_id``) or a new one (``table_name``). A CSV over the batch
size (100 MB, Zoho's limit per file) goes through the batch import API: parts of at most that size, each
with the header, sent under one batch key; the last one creates the job. Facts: ``docs/zoho-api.md``,
"Creating jobs".

Before the first upload (``preflight``), the workspace's metadata (Zoho's metadata API, as its
AnalyticsClient reads it: https://www.zoho.com/analytics/api/v2/metadata-api/get-views.html and
https://www.zoho.com/analytics/api/v2/metadata-api/get-view-details.html) is asked whether the table exists
(or, for ``table_name``, that no table has that name) and whether a CSV's header names its columns.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_zoho.compat import AirflowFailException, Context
from airflow_provider_zoho.exceptions import bounded
from airflow_provider_zoho.hooks.exchange import (
    analytics_import_config,
    analytics_import_request,
    analytics_request,
    read_analytics_job_id,
    read_batch_key,
    read_optional_job_id,
)
from airflow_provider_zoho.jobs import ANALYTICS_IMPORT, is_template, values_at
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.csv_parts import CsvProblem, CsvRows, check_source_file, open_text, source_path
from airflow_provider_zoho.operators.preflight import csv_header, entries, shown, unknown_names
from airflow_provider_zoho.operators.results import MAX_ERROR_CODE_CHARS
from airflow_provider_zoho.products import ANALYTICS

IMPORT_TYPES = ("APPEND", "TRUNCATEADD", "UPDATEADD")
ON_ERROR = ("ABORT", "SKIPROW", "SETCOLUMNEMPTY")
FILE_TYPES = ("csv", "json", "xml", "xls", "xlsx", "parquet")
# CONFIG keys the operator's own parameters set: given in ``config`` they would fight them.
OWN_CONFIG_KEYS = frozenset(
    {"importType", "onError", "matchingColumns", "tableName", "fileType", "batchKey", "isLastBatch"}
)
LOGGED_IMPORT_ERROR_CHARS = 2000
_CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "xml": "application/xml"}


class ZohoAnalyticsImportOperator(ZohoJobOperator):
    """Import a file (a local path or any ObjectStoragePath URI) into a Zoho Analytics table and wait.

    :param workspace_id: the workspace (digits).
    :param file: the file: ``/data/sales.csv``, ``s3://bucket/sales.csv``... csv, json, xml, xls, xlsx or
        parquet; the type comes from the extension unless ``file_type`` says.
    :param view_id: the table to import into; or
    :param table_name: the name of a new table to create (exactly one of ``view_id`` and ``table_name``).
    :param import_type: ``APPEND``, ``TRUNCATEADD`` (**deletes every row of the table first**) or ``UPDATEADD``
        (needs ``matching_columns``). For an existing table only. In any case (``"append"``, as Zoho's own
        samples write it): it is sent upper case.
    :param on_error: ``ABORT`` (the job fails on a bad row), ``SKIPROW`` or ``SETCOLUMNEMPTY``, in any case.
    :param matching_columns: the columns that find the row an ``UPDATEADD`` updates.
    :param config: any other CONFIG keys (``dateFormat``, ``skipTop``, ``autoIdentify``...), passed as they are.
    :param org_id: the ``ZANALYTICS-ORGID`` header; default the connection's ``analytics_org_id``.
    :param file_type: Zoho's ``fileType``, when the extension does not say it (in any case; sent lower case).
    :param batch_size: bytes per file above which a CSV goes through the batch import API, in parts of at
        most this size (Zoho's limit, 100 MB, is the default; tests use less).
    :param zoho_conn_id: see ``ZohoJobOperator``.
    :param wait_for_completion: see ``ZohoJobOperator``.
    :param deferrable: see ``ZohoJobOperator``.
    :param poll_interval: see ``ZohoJobOperator``.
    :param timeout: see ``ZohoJobOperator``.
    :param max_failed_records: see ``ZohoJobOperator`` and below.
    :param reattach_on_retry: see ``ZohoJobOperator``.
    :param preflight: see ``ZohoJobOperator``: the workspace has table ``view_id`` (or no table named
        ``table_name``), and a CSV's header names columns of that table.

    ``max_failed_records`` counts rows not imported (``totalRowCount - successRowCount``): a job that ends
    1004 (completed) may still have skipped rows (``SKIPROW``). See ``ZohoJobOperator`` for waiting and
    reattaching on retry. Zoho documents no cancel for an import job: ``on_kill`` leaves it running.
    """

    job_kind = ANALYTICS_IMPORT
    template_fields: Sequence[str] = (
        "workspace_id",
        "file",
        "view_id",
        "table_name",
        "import_type",
        "matching_columns",
        "config",
        "org_id",
    )
    template_fields_renderers = {"config": "json"}

    def __init__(
        self,
        *,
        workspace_id: str,
        file: str,
        view_id: str | None = None,
        table_name: str | None = None,
        import_type: str = "APPEND",
        on_error: str = "ABORT",
        matching_columns: list[str] | None = None,
        config: dict[str, Any] | None = None,
        org_id: str | None = None,
        file_type: str | None = None,
        batch_size: int = ANALYTICS.limits["file_bytes"],
        **kwargs: Any,
    ) -> None:
        """Keep the arguments and check those known at parse time; each is described in the class docstring.

        :raises ValueError: an argument that is not a template is wrong (no file or workspace, an id that is
            not digits, both or neither of ``view_id`` and ``table_name``, a ``config`` key the operator sets...).
        """
        super().__init__(**kwargs)
        self.workspace_id = workspace_id
        self.file = file
        self.view_id = view_id
        self.table_name = table_name
        self.import_type = _folded(import_type, str.upper)
        self.on_error = _folded(on_error, str.upper)
        self.matching_columns = matching_columns
        self.config = config
        self.org_id = org_id
        self.file_type = _folded(file_type, str.lower)
        self.batch_size = batch_size
        if problems := self._problems(rendered=False):
            raise ValueError(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def _problems(self, *, rendered: bool) -> list[str]:
        """Return what is wrong with the arguments; at parse time a template is not known yet and is skipped."""

        def known(*values: Any) -> bool:
            return rendered or not any((isinstance(v, str) and is_template(v)) or hasattr(v, "resolve") for v in values)

        problems: list[str] = []
        if known(self.file) and (not isinstance(self.file, str) or not self.file.strip()):
            problems.append("file is required: pass the file's path or URI")
        if self.workspace_id is None:
            problems.append("workspace_id is required: pass the workspace's numeric id")
        for name in ("workspace_id", "view_id", "org_id"):
            value = getattr(self, name)
            if value is not None and known(value) and not (str(value).isascii() and str(value).isdigit()):
                problems.append(f"{name} must be Zoho's numeric id (digits only), got {value!r}")
        if known(self.view_id, self.table_name) and bool(self.view_id) == bool(self.table_name):
            problems.append(
                "pass exactly one of view_id (import into that table) and table_name (create a new table), "
                f"got view_id={self.view_id!r} and table_name={self.table_name!r}"
            )
        if known(self.import_type) and self.import_type not in IMPORT_TYPES:
            problems.append(f"import_type must be one of {', '.join(IMPORT_TYPES)}, got {self.import_type!r}")
        if self.on_error not in ON_ERROR:
            problems.append(f"on_error must be one of {', '.join(ON_ERROR)}, got {self.on_error!r}")
        columns = self.matching_columns
        if known(columns) and columns is not None and not _names(columns):
            problems.append(f"matching_columns must be a list of column names, got {columns!r}")
        if known(self.import_type, columns) and self.import_type == "UPDATEADD" and not columns:
            problems.append("matching_columns is required for UPDATEADD: name the columns that find each row")
        if (
            known(self.table_name, self.import_type, columns)
            and self.table_name
            and (self.import_type != "APPEND" or columns)
        ):
            problems.append(
                "import_type and matching_columns apply to an existing table (view_id); a new table "
                "(table_name) is created with the file's rows"
            )
        problems += self._config_problems() if known(self.config) else []
        if (
            known(self.file)
            and isinstance(self.file, str)
            and self.file.strip()
            and self._file_type() not in FILE_TYPES
        ):
            problems.append(
                f"file_type must be one of {', '.join(FILE_TYPES)}: the extension of {self.file!r} does not "
                f"say which (got {self._file_type()!r}); pass file_type"
            )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            problems.append(f"batch_size must be a positive whole number of bytes, got {self.batch_size!r}")
        return problems

    def _config_problems(self) -> list[str]:
        if self.config is None:
            return []
        if not isinstance(self.config, dict):
            return [f"config must be a dict of CONFIG keys, got {type(self.config).__name__}"]
        if clash := sorted(OWN_CONFIG_KEYS & set(self.config)):
            return [
                f"config must not set {', '.join(clash)}: use the operator's parameters (import_type, on_error, "
                "matching_columns, table_name, file_type)"
            ]
        return []

    def _file_type(self) -> str:
        return (self.file_type or Path(self.file.split("?")[0]).suffix.lstrip(".")).lower()

    def check_rendered(self) -> None:
        """Fail the task on a wrong rendered argument: the parse-time checks, now with every template known."""
        self.import_type = _folded(self.import_type, str.upper)
        if problems := self._problems(rendered=True):
            raise AirflowFailException(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def link_parts(self) -> dict[str, Any]:
        """Return the workspace and the table (none yet for a new table: the link is the workspace's).

        :return: the parts of the task's link in Zoho's UI.
        """
        return {"workspace_id": self.workspace_id, "view_id": self.view_id}

    def job_coordinates(self, job_id: str) -> dict[str, str | None]:
        """Return the coordinates a status poll of ``job_id`` needs: the workspace, and the org header's value.

        :param job_id: the task's job id.
        :return: the coordinates of ``ANALYTICS_IMPORT``; ``org_id`` None leaves the connection's.
        """
        return {"workspace_id": str(self.workspace_id), "job_id": job_id, "org_id": self.org_id}

    # -- checking before spending -----------------------------------------------------------------------------
    def preflight_problems(self, context: Context) -> list[str]:
        """Check the table and the CSV's header against the workspace's metadata (Zoho's metadata API).

        ``view_id`` must be a table of the workspace (a ``table_name`` must name none yet: Zoho refuses a taken
        name with 7111), and a CSV into an existing table must name its columns in the header.

        :param context: the task's context.
        :return: one message per problem.
        :raises ZohoError: a metadata call Zoho refused (the base class only warns about it, unless the
            credentials themselves were refused).
        """
        check_source_file(self.task_id, self.file)  # a missing file fails as the load would, not here raw
        org_id = self.org_id or self.hook.config.analytics_org_id
        if not org_id:
            return []  # create_jobs says what is missing
        workspace = str(self.workspace_id)
        hook = self.hook
        request = analytics_request(hook.config, "views", org_id, workspace_id=workspace)
        views = self._metadata(hook.get_json(request, patient=False))
        tables = {
            view_id: str(view.get("viewName"))
            for view_id, view in entries(views, "views", "viewId").items()
            if str(view.get("viewType", "Table")).casefold() == "table"
        }
        if self.table_name:
            taken = [name for name in tables.values() if name.casefold() == str(self.table_name).casefold()]
            return (
                [f"workspace {workspace} already has a table named {shown(taken[0])}: pass its view_id"]
                if taken
                else []
            )
        view_id = str(self.view_id)
        if view_id not in tables:
            names = ", ".join(f"{shown(name)} ({vid})" for vid, name in sorted(tables.items())[:20]) or "none"
            return [f"workspace {workspace} has no table {view_id}; its tables: {names}"]
        csv_file = self._file_type() == "csv"
        if not csv_file and not self.matching_columns:
            return []
        request = analytics_request(hook.config, "view", org_id, view_id=view_id)
        details = self._metadata(hook.get_json(request, patient=False))
        columns = list(entries(details.get("views"), "columns", "columnName"))
        if not columns:
            return []  # nothing to compare the header with
        what = f"column of table {shown(tables[view_id])} ({view_id})"
        problems = [f"matching_columns: {p}" for p in unknown_names(self.matching_columns or [], columns, what)]
        if not csv_file:
            return problems
        header = csv_header(self.file)
        if header is None:
            return problems  # the load's own checks say what is wrong with the file
        return problems + unknown_names(header, columns, what)

    @staticmethod
    def _metadata(body: Any) -> dict[str, Any]:
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else {}

    # -- creating ---------------------------------------------------------------------------------------------
    def create_jobs(self, context: Context, state: dict[str, Any]) -> None:
        """Check the file, upload it (or its batches) and create the job.

        Zoho's 8134 (the org already runs its 5 import jobs) is waited out until the task's deadline.

        :param context: the task's context.
        :param state: the task's jobs, replaced by the new job and remembered once it exists.
        """
        size = check_source_file(self.task_id, self.file)
        org_id = self.org_id or self.hook.config.analytics_org_id
        if not org_id:
            raise AirflowFailException(
                f"{self.task_id}: no Analytics organization id: pass org_id or set the connection's "
                f"analytics_org_id extra (sent as the {ANALYTICS.headers['org']} header)"
            )
        file_type = self._file_type()
        config = analytics_import_config(
            file_type=file_type,
            on_error=self.on_error,
            import_type=self.import_type,
            matching_columns=self.matching_columns,
            table_name=self.table_name,
            extra=self.config,
        )
        if size == 0:
            raise AirflowFailException(f"{self.task_id}: {self.file} is empty; nothing was uploaded")
        with tempfile.TemporaryDirectory(prefix="zoho-analytics-import-") as work:
            if size <= self.batch_size:
                job_id = self._import_whole(org_id, config, Path(work))
            elif file_type != "csv":
                raise AirflowFailException(
                    f"{self.task_id}: {self.file} is {size:,} bytes, over the {self.batch_size:,} Zoho takes in one "
                    "file; only a CSV can go through the batch import API"
                )
            elif size > ANALYTICS.limits["batches"] * self.batch_size:
                raise AirflowFailException(
                    f"{self.task_id}: {self.file} is {size:,} bytes: more than {ANALYTICS.limits['batches']} batches of "
                    f"{self.batch_size:,} bytes, the most a batch import takes; nothing was uploaded"
                )
            else:
                job_id = self._import_batches(org_id, config, Path(work))
        state["job_ids"], state["first_rows"], state["complete"] = [job_id], [2], True
        self.created(job_id, f"for {self.file}")
        self.remember(context, state)

    def _request(self, org_id: str, config: dict[str, Any], *, batch: bool = False) -> Any:
        return analytics_import_request(
            self.hook.config,
            workspace_id=str(self.workspace_id),
            view_id=str(self.view_id) if self.view_id else None,
            org_id=org_id,
            import_config=config,
            batch=batch,
        )

    def _upload(self, request: Any, path: Path, what: str) -> Any:
        content_type = _CONTENT_TYPES.get(self._file_type(), "application/octet-stream")
        return self.until_deadline(
            lambda: self.hook.upload(request, path, "FILE", content_type, creates=True), ANALYTICS.busy_codes, what
        )

    def _import_whole(self, org_id: str, config: dict[str, Any], work: Path) -> str:
        with local_copy(self.file, work) as path:
            body = self._upload(self._request(org_id, config), path, f"Creating the import of {self.file}")
        return read_analytics_job_id(body)

    def _import_batches(self, org_id: str, config: dict[str, Any], work: Path) -> str:
        """Send the CSV in batches under one batch key; the last batch's answer names the job.

        A batch is sent once the next is cut (to know which is last), so a problem in the file surfaces before
        the last batch, and so before the job exists.
        """
        key, job_id = "start", None
        try:
            with open_text(self.file) as source:
                batches = _lookahead(csv_batches(CsvRows(source, max_columns=None), work, self.batch_size))
                for number, (path, last) in enumerate(batches, 1):
                    request = self._request(org_id, {**config, "batchKey": key, "isLastBatch": last}, batch=True)
                    self.log.info("Sending batch %d of %s (%d bytes)", number, self.file, path.stat().st_size)
                    body = self._upload(request, path, f"Sending batch {number} of {self.file}")
                    path.unlink()
                    job_id = read_optional_job_id(body) or job_id
                    if not last:
                        key = read_batch_key(body)
        except CsvProblem as problem:
            raise AirflowFailException(
                f"{self.task_id}: file {self.file!r}, {problem}; no import job was created (the batches sent so far "
                "are left unfinished)"
            ) from None
        if job_id is None:
            return read_analytics_job_id(body)  # raises: the last batch's answer named no job
        return job_id

    # -- results ----------------------------------------------------------------------------------------------
    def summary_counts(self, counts: dict[str, int]) -> dict[str, int]:
        """Return Zoho's row counts plus ``failed_rows``: the rows of ``total_rows`` not imported.

        :param counts: the job's counts.
        :return: ``total_rows``, ``success_rows``, ``warnings`` and ``failed_rows``.
        """
        total, success = counts.get("total_rows", 0), counts.get("success_rows", 0)
        return {
            "total_rows": total,
            "success_rows": success,
            "warnings": counts.get("warnings", 0),
            "failed_rows": max(0, total - success),
        }

    def summary_extras(self, jobs: list[dict[str, Any]]) -> dict[str, Any]:
        """Return the table's view id (the new one, for ``table_name``) and Zoho's ``importErrors`` text.

        The errors are logged and cut short (they may be megabytes: the summary is an XCom).

        :param jobs: the job's summary (one job per task).
        :return: ``view_id`` and ``import_errors``.
        """
        response = jobs[0].get("response") if jobs else None
        errors = next(iter(values_at(response, "jobInfo.importErrors")), "") or ""
        # The user's own table when one was given; a new table's id is the job's (Zoho names it at 1004).
        view = self.view_id or next(iter(values_at(response, "jobInfo.viewId")), None)
        if errors:
            self.log.warning("Zoho's import errors: %s", bounded(str(errors), LOGGED_IMPORT_ERROR_CHARS))
        return {
            "view_id": None if view is None else bounded(str(view), MAX_ERROR_CODE_CHARS),
            "import_errors": bounded(str(errors)),
        }


def _folded(value: Any, fold: Callable[[str], str]) -> Any:
    """Return a string argument in Zoho's case (``fold``); a template (rendered later) or a non-string as it is."""
    return fold(value) if isinstance(value, str) and not is_template(value) else value


def _names(columns: Any) -> bool:
    return isinstance(columns, list) and bool(columns) and all(isinstance(c, str) and c for c in columns)


def csv_batches(rows: CsvRows, workdir: Path, max_bytes: int) -> Iterator[Path]:
    """Yield parts of a CSV of at most about ``max_bytes`` bytes each (a record is never cut), each with the header.

    A part holds at least one record, so a record longer than ``max_bytes`` makes a part of its own.

    :param rows: the CSV, its header read; each part repeats that header.
    :param workdir: where the parts are written (``batch-000.csv``...).
    :param max_bytes: the size a part is kept under, header included.
    :return: an iterator of the parts' paths, in order; each is written before it is yielded.
    """
    records = iter(rows)
    line = io.StringIO()
    encoder = csv.writer(line, delimiter=rows.delimiter)

    def encoded(row: list[str]) -> bytes:
        line.seek(0)
        line.truncate()
        encoder.writerow(row)
        return line.getvalue().encode("utf-8")

    head = encoded(rows.header)
    pending = next(records, None)
    index = 0
    while pending is not None:
        path = workdir / f"batch-{index:03d}.csv"
        with path.open("wb") as handle:
            handle.write(head)
            written = len(head)
            while pending is not None:
                row = encoded(pending)
                if written > len(head) and written + len(row) > max_bytes:
                    break
                handle.write(row)
                written += len(row)
                pending = next(records, None)
        yield path
        index += 1


def _lookahead(items: Iterator[Path]) -> Iterator[tuple[Path, bool]]:
    """Yield each item with whether it is the last (a batch says so in its CONFIG)."""
    current = next(items, None)
    while current is not None:
        following = next(items, None)
        yield current, following is None
        current = following


@contextlib.contextmanager
def local_copy(file: str, work: Path) -> Iterator[Path]:
    """Yield a local path to upload from: the file itself, or a streamed copy of an ObjectStoragePath URI.

    :param file: a local path, or a URI (anything with ``://``) that ``ObjectStoragePath`` opens.
    :param work: the folder a URI's copy is written to, named after the URI's last segment.
    :return: a context manager giving the path.
    """
    if "://" not in file:
        yield Path(file)
        return
    source = source_path(file)
    target = work / (Path(file.split("?")[0]).name or "upload")
    with source.open("rb") as reader, target.open("wb") as writer:
        shutil.copyfileobj(reader, writer, 1024 * 1024)
    yield target
