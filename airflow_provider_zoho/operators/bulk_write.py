"""Load a CSV into Zoho CRM or Bigin with a bulk write job, wait for it, and report the records that failed.

CRM v8 and Bigin v2 share one API under other paths, so one operator serves both: each subclass names its
product's record (``products.CRM``, ``products.BIGIN``: paths, headers, refused modules) and its job kind.
"""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import urlencode, urljoin

from airflow_provider_zoho.compat import AirflowException, AirflowFailException, Context
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.exchange import (
    api_request,
    bulk_write_body,
    read_created_job_id,
    read_download_url,
    read_file_id,
)
from airflow_provider_zoho.jobs import BIGIN_BULK_WRITE, CRM_BULK_WRITE, is_template
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.csv_parts import (
    MAX_RECORDS_PER_JOB,
    MAX_ZIP_BYTES,
    CsvProblem,
    CsvRows,
    as_text,
    check_csv,
    check_source_file,
    is_local,
    open_text,
    source_path,
    split_csv,
)
from airflow_provider_zoho.operators.preflight import csv_header, entries, shown, unknown_names
from airflow_provider_zoho.operators.results import (
    LOGGED_FAILED_ROWS,
    FailedRows,
    ResultProblem,
    compact,
    read_result_zip,
    result_row_limit,
    unreadable_result,
)
from airflow_provider_zoho.products import BIGIN, CRM, ZohoProduct

OPERATIONS = ("insert", "update", "upsert")
# A result zip is a few columns per record of a part of at most 25,000: 200 MB is far beyond any real one.
MAX_RESULT_BYTES = 200 * 1024 * 1024
# What a spreadsheet reads as a formula when a cell starts with it (=cmd|..., @SUM, a tab or CR before one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ZohoBulkWriteOperator(ZohoJobOperator):
    """Upload a CSV (a local path or any ObjectStoragePath URI) and load it with one bulk write job per part.

    :param module: the module's API name (``Contacts``).
    :param file: the CSV: ``/data/contacts.csv``, ``s3://bucket/contacts.csv``... Its header holds the
        fields' API names unless ``field_mappings`` says which column goes where.
    :param operation: ``insert``, ``update`` or ``upsert``.
    :param find_by: the unique field (or ``id``) that finds the record to update; required for update and
        upsert.
    :param field_mappings: Zoho's ``field_mappings`` list (``{"api_name", "index", ...}``), passed as is.
    :param ignore_empty: leave fields whose cell is empty as they are instead of clearing them.
    :param failed_records_path: where to write every record that did not land, as CSV (a local path or any
        ObjectStoragePath URI); the summary keeps the first 100. A cell (or column name) that starts with
        ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a ``'`` in front, as CSV-export tools do, so
        that a spreadsheet opening the file shows the text instead of running it as a formula
        (``=cmd|...``); a negative number is written ``'-5``. A local path that is a symlink is refused.
    :param overwrite: replace a file already at ``failed_records_path``; by default one there fails the
        task before anything is uploaded (a retry that finds the file a finished earlier try wrote fails too:
        template the path with ``{{ ti.try_number }}``, or pass True).
    :param max_records_per_job: the most records one part (and so one job) holds; Zoho's limit per job,
        25,000, by default.
    :param max_zip_bytes: the size each part's zip is kept under; Zoho's limit per upload, 25 MB, by default.
    :param zoho_conn_id: see ``ZohoJobOperator``.
    :param wait_for_completion: see ``ZohoJobOperator``.
    :param deferrable: see ``ZohoJobOperator``.
    :param poll_interval: see ``ZohoJobOperator``.
    :param timeout: see ``ZohoJobOperator``.
    :param max_failed_records: see ``ZohoJobOperator``; here the records Zoho skipped or left unprocessed.
    :param reattach_on_retry: see ``ZohoJobOperator``.

    A file over 25,000 records (or whose zip would pass 25 MB) is split into parts, one job per part,
    created in order; the task waits for all of them and sums their counts. See ``ZohoJobOperator`` for
    waiting, reattaching on retry and ``max_failed_records``.
    """

    product: ClassVar[ZohoProduct]
    template_fields: Sequence[str] = ("file", "module", "operation", "find_by", "field_mappings", "failed_records_path")
    template_fields_renderers = {"field_mappings": "json"}

    def __init__(
        self,
        *,
        module: str,
        file: str,
        operation: str = "insert",
        find_by: str | None = None,
        field_mappings: list[dict[str, Any]] | None = None,
        ignore_empty: bool = False,
        failed_records_path: str | None = None,
        overwrite: bool = False,
        max_records_per_job: int = MAX_RECORDS_PER_JOB,
        max_zip_bytes: int = MAX_ZIP_BYTES,
        **kwargs: Any,
    ) -> None:
        """Keep the arguments and check those known at parse time; each is described in the class docstring.

        :raises ValueError: an argument that is not a template is wrong (no module or file, an operation Zoho
            does not take, update or upsert without ``find_by``, malformed ``field_mappings``...).
        """
        super().__init__(**kwargs)
        self.module = module
        self.file = file
        self.operation = operation
        self.find_by = find_by
        self.field_mappings = field_mappings
        self.ignore_empty = ignore_empty
        self.failed_records_path = failed_records_path
        self.overwrite = overwrite
        self.max_records_per_job = max_records_per_job
        self.max_zip_bytes = max_zip_bytes
        self._file_checked = False
        self._org_id: str | None = None  # the org's zgid, once looked up for the upload
        if problems := self._problems(rendered=False):
            raise ValueError(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def _problems(self, *, rendered: bool) -> list[str]:
        """Return what is wrong with the arguments; at parse time a template is not known yet and is skipped."""

        def known(value: Any) -> bool:
            return rendered or (not (isinstance(value, str) and is_template(value)) and not hasattr(value, "resolve"))

        problems: list[str] = []
        for name in ("module", "file"):
            value = getattr(self, name)
            if known(value) and (not isinstance(value, str) or not value.strip()):
                problems.append(
                    f"{name} is required: pass the {'module API name' if name == 'module' else 'CSV path or URI'}"
                )
        if known(self.module) and self.module in self.product.refused_modules:
            problems.append(f"{self.job_kind.label}s do not take module {self.module!r} (Zoho refuses it)")
        if known(self.operation) and self.operation not in OPERATIONS:
            problems.append(f"operation must be one of {', '.join(OPERATIONS)}, got {self.operation!r}")
        if (
            known(self.operation)
            and known(self.find_by)
            and self.operation in ("update", "upsert")
            and not self.find_by
        ):
            problems.append(f"find_by is required for {self.operation}: name a unique field's API name, or 'id'")
        if known(self.field_mappings) and self.field_mappings is not None and not _mappings_ok(self.field_mappings):
            problems.append(
                "field_mappings must be a list of objects with api_name (text) and index (the CSV column, from 0) "
                'or default_value, e.g. [{"api_name": "Last_Name", "index": 0}]'
            )
        for name in ("max_records_per_job", "max_zip_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a positive whole number, got {value!r}")
        return problems

    def check_rendered(self) -> None:
        """Fail the task on a wrong rendered argument: the parse-time checks, now with every template known."""
        if problems := self._problems(rendered=True):
            raise AirflowFailException(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    # -- checking before spending -----------------------------------------------------------------------------
    def preflight_problems(self, context: Context) -> list[str]:
        """Check the module and the file's fields against the org's metadata (Zoho's settings APIs).

        A bulk write costs API credits whatever its outcome: the module must exist, every column (or
        ``field_mappings`` entry) must name one of its fields, an insert or upsert must carry every mandatory
        field, and ``find_by`` must be ``id`` or a unique field.

        :param context: the task's context.
        :return: one message per problem.
        """
        self._check_file()  # the free checks first: what is wrong in the file is said as the file's problem
        hook = self.hook
        modules = entries(
            hook.get_json(api_request(hook.config, self.product.paths["modules"]), patient=False), "modules", "api_name"
        )
        if self.module not in modules:
            return unknown_names([self.module], modules, f"module of this {self.product.label} org")
        query = "?" + urlencode({"module": self.module})
        request = api_request(hook.config, self.product.paths["fields"] + query)
        fields = entries(hook.get_json(request, patient=False), "fields", "api_name")
        names = self._field_names()
        problems = unknown_names([name for name in names if name != "id"], fields, f"field of module {self.module}")
        if self.operation in ("insert", "upsert"):
            mandatory = [name for name, field in fields.items() if field.get("system_mandatory") is True]
            problems += [
                f"mandatory field {shown(name)} of {self.module} is not in the file (an {self.operation} needs it)"
                for name in mandatory
                if name not in names
            ]
        if self.find_by and self.find_by != "id" and self.find_by in fields and not fields[self.find_by].get("unique"):
            problems.append(
                f"find_by {self.find_by!r} is not a unique field of {self.module}: use 'id' or a unique field"
            )
        return problems

    def _check_file(self) -> None:
        """Check the whole file and ``failed_records_path`` once per task, before any request.

        The preflight and the load both need it first; the file is read once for it, not twice.
        """
        if self._file_checked:
            return
        check_source_file(self.task_id, self.file)
        if self.failed_records_path and (problem := _target_problem(self.failed_records_path, self.overwrite)):
            raise AirflowFailException(f"{self.task_id}: {problem}; nothing was uploaded")
        try:
            with open_text(self.file) as source:
                check_csv(source, self.field_mappings)
        except CsvProblem as problem:
            raise AirflowFailException(f"{self.task_id}: file {self.file!r}, {problem}; nothing was uploaded") from None
        self._file_checked = True

    def _field_names(self) -> list[str]:
        """Return the fields the load writes: the mappings' API names, else the CSV's header (checked already)."""
        if self.field_mappings:
            return [str(mapping["api_name"]) for mapping in self.field_mappings]
        return csv_header(self.file) or []

    def link_parts(self) -> dict[str, Any]:
        """Return the org (looked up for the upload, else the connection's ``crm_org_id``) and the module.

        :return: the parts of the task's link to the module in Zoho's UI.
        """
        return {"org_id": self._org_id or self.hook.config.crm_org_id, "module": self.module}

    # -- creating ---------------------------------------------------------------------------------------------
    def create_jobs(self, context: Context, state: dict[str, Any]) -> None:
        """Check the whole file, then split, upload and create part by part.

        A problem anywhere in the file, or a ``failed_records_path`` that would be refused, fails the task
        before any request. A part that already has a job (created by an earlier try) is skipped.

        :param context: the task's context.
        :param state: the task's jobs so far, updated in place and remembered after each new job.
        """
        self._check_file()
        hook = self.hook
        try:
            org_id = self._org_id = hook.get_org_id(self.product.paths["org"])
            upload_url = hook.config.upload_base_url + self.product.paths["upload"]
            upload_headers = {
                **self.product.header("org", org_id),
                **self.product.header("feature", self.product.header_values["feature"]),
            }
            with tempfile.TemporaryDirectory(prefix="zoho-bulk-write-") as work, open_text(self.file) as source:
                parts = split_csv(
                    CsvRows(source, max_columns=None),
                    Path(work),
                    max_records=self.max_records_per_job,
                    max_zip_bytes=self.max_zip_bytes,
                    csv_name=f"{self.module}.csv",
                )
                for part in parts:
                    if part.index < len(state["job_ids"]) and state["job_ids"][part.index]:
                        part.path.unlink()
                        continue  # created by an earlier try
                    file_id = read_file_id(hook.upload_file(upload_url, part.path, upload_headers, "application/zip"))
                    part.path.unlink()
                    body = bulk_write_body(
                        operation=self.operation,
                        module=self.module,
                        file_id=file_id,
                        find_by=self.find_by,
                        field_mappings=self.field_mappings,
                        ignore_empty=self.ignore_empty,
                    )
                    job_id = read_created_job_id(
                        hook.send_json(
                            "POST", api_request(hook.config, self.product.paths["bulk_write"]), body, creates=True
                        )
                    )
                    _set(state["job_ids"], part.index, job_id)
                    _set(state["first_rows"], part.index, part.first_row)
                    self.created(
                        job_id, f"for rows {part.first_row}-{part.first_row + part.records - 1} of {self.file}"
                    )
                    self.remember(context, state)
        except CsvProblem as problem:  # the file passed check_csv, then changed
            raise AirflowException(
                f"{self.task_id}: file {self.file!r} changed while it was loaded, {problem}"
            ) from None
        state["complete"] = True
        self.remember(context, state)

    # -- results ----------------------------------------------------------------------------------------------
    def summary_counts(self, counts: dict[str, int]) -> dict[str, int]:
        """Return Zoho's counts plus ``unprocessed``: the records of ``total`` neither added, updated nor skipped.

        :param counts: the jobs' counts, summed.
        :return: ``added``, ``updated``, ``skipped``, ``unprocessed`` and ``total``.
        """
        landed = counts.get("added", 0) + counts.get("updated", 0) + counts.get("skipped", 0)
        return {
            "added": counts.get("added", 0),
            "updated": counts.get("updated", 0),
            "skipped": counts.get("skipped", 0),
            "unprocessed": max(0, counts.get("total", 0) - landed),
            "total": counts.get("total", 0),
        }

    def failed_rows(self, context: Context, state: Mapping[str, Any], jobs: list[dict[str, Any]]) -> FailedRows:
        """Download each job's result zip (token only to trusted hosts), log and keep the failed rows.

        A result that cannot be read fails the task naming the job, its counts and ``max_failed_records``; a
        ``failed_records_path`` written so far is removed, so that a retry does not find it in its way.

        :param context: the task's context.
        :param state: the task's jobs; ``first_rows`` numbers each part's rows as lines of the input file.
        :param jobs: each job's summary, its answer holding the result's ``download_url``.
        :return: the failed rows kept for the summary, their total and their error codes.
        """
        failed = FailedRows()
        writer = _FailedRowsFile(self.failed_records_path, self.overwrite) if self.failed_records_path else None

        def on_failed(record: dict[str, Any]) -> None:
            if failed.total <= LOGGED_FAILED_ROWS:
                shown = compact(record)
                self.log.warning(
                    "Row %s %s: %s %s", shown["row"], shown["status"], shown["errors"] or "no error code", shown
                )
            if writer is not None:
                writer.write(record)

        with contextlib.ExitStack() as cleanup:
            if writer is not None:
                cleanup.push(writer.discard_on_error)  # runs after the close below (an ExitStack unwinds LIFO)
                cleanup.callback(writer.close)
            work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="zoho-bulk-result-")))
            for number, (job, first_row) in enumerate(zip(jobs, state["first_rows"], strict=False)):
                try:
                    # Named by its place, never from an answer: a job id is Zoho's text.
                    path = self._download_result(job, work / f"result-{number}.zip")
                    if path is not None:
                        limit = result_row_limit(self.job_kind, job.get("counts") or {})
                        read_result_zip(path, int(first_row), limit, failed, on_failed)
                except (ResultProblem, ZohoError) as problem:
                    if isinstance(problem, ZohoError) and problem.code != "INVALID_RESPONSE":
                        raise  # trouble on the way (waited out, or fatal), not a result that cannot be read
                    what = f"{self.task_id}: {self.job_kind.label} {job['job_id']}"
                    raise unreadable_result(what, job, problem, self.max_failed_records) from None
        if failed.total:
            self.log.warning("%d record(s) did not land; error codes %s", failed.total, failed.codes)
        return failed

    def _download_result(self, job: Mapping[str, Any], target: Path) -> Path | None:
        hook = self.hook
        url = read_download_url(job.get("response"))
        if url is None:
            self.log.warning(
                "%s %s: no result.download_url in its answer; counts only", self.job_kind.label, job["job_id"]
            )
            return None
        url = urljoin(hook.config.base_url(self.product.service) + "/", url)
        if not hook.may_send_token_to(url):
            self.log.warning(
                "%s %s: not downloading its result from %s: the access token only goes to Zoho hosts of the "
                "connection's data center or its host/upload_host; counts only",
                self.job_kind.label,
                job["job_id"],
                url.split("?")[0],
            )
            return None
        with target.open("w+b") as sink:
            hook.download(url, sink, MAX_RESULT_BYTES, time_allowed=max(60.0, float(self.timeout)), expect_zip=True)
        return target


def _target_problem(path: str, overwrite: bool) -> str | None:
    """Return why ``failed_records_path`` may not be written: a symlink (a local path), or a file there already."""
    target = source_path(path)
    where = f"failed_records_path {path!r}"
    if is_local(target) and target.is_symlink():
        return f"{where} is a symlink; it is not followed: name the file itself"
    if not overwrite and target.exists():
        return f"{where} exists; pass overwrite=True to replace it"
    return None


@contextlib.contextmanager
def _open_target(path: str, overwrite: bool) -> Iterator[IO[bytes]]:
    """Open ``path`` for writing, refused as ``_target_problem`` says.

    A local one is opened so that a symlink or a file planted after the check is refused too (``O_NOFOLLOW``,
    ``O_EXCL``).
    """
    if problem := _target_problem(path, overwrite):
        raise AirflowFailException(problem)
    target = source_path(path)
    if not is_local(target):
        with target.open("wb") as raw:
            yield raw
        return
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        descriptor = os.open(target, flags, 0o666)
    except OSError as error:
        raise AirflowFailException(f"failed_records_path {path!r} cannot be written: {error.strerror}") from None
    with open(descriptor, "wb") as raw:
        yield raw


def _cell(value: Any) -> str:
    """Return a value as the failed-records file writes it: text a spreadsheet would run as a formula gets a ``'``."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _FailedRowsFile:
    """Every failed row as CSV at ``failed_records_path``, written as rows are read (columns: the first row's)."""

    def __init__(self, path: str, overwrite: bool) -> None:
        self.path = path
        self._stack = contextlib.ExitStack()
        self._text = self._stack.enter_context(as_text(self._stack.enter_context(_open_target(path, overwrite)), "w"))
        self._writer = csv.writer(self._text)
        self._columns: list[str] | None = None

    def write(self, record: Mapping[str, Any]) -> None:
        if self._columns is None:
            self._columns = list(record)
            self._writer.writerow([_cell(name) for name in self._columns])
        self._writer.writerow([_cell(record.get(name)) for name in self._columns])

    def close(self) -> None:
        self._stack.close()

    def discard_on_error(self, kind: type[BaseException] | None, *_: object) -> None:
        """Remove the file (closed first) after an error: one cut short by a failure is no list of what failed.

        An exit callback for an ``ExitStack``: it does nothing when ``kind`` is None (no error).
        """
        if kind is not None:
            source_path(self.path).unlink(missing_ok=True)


def _mappings_ok(mappings: Any) -> bool:
    return isinstance(mappings, list) and all(
        isinstance(m, dict)
        and isinstance(m.get("api_name"), str)
        and ((isinstance(m.get("index"), int) and not isinstance(m.get("index"), bool)) or "default_value" in m)
        for m in mappings
    )


def _set(values: list[Any], index: int, value: Any) -> None:
    values.extend([None] * (index + 1 - len(values)))
    values[index] = value


class ZohoCRMBulkWriteOperator(ZohoBulkWriteOperator):
    """Load a CSV into a Zoho CRM module (bulk write API v8) and wait; see ``ZohoBulkWriteOperator``."""

    product = CRM
    job_kind = CRM_BULK_WRITE


class ZohoBiginBulkWriteOperator(ZohoBulkWriteOperator):
    """Load a CSV into a Zoho Bigin module (bulk write API v2) and wait; see ``ZohoBulkWriteOperator``."""

    product = BIGIN
    job_kind = BIGIN_BULK_WRITE
