"""What every Zoho export shares: page by page, create a job, wait, download, check, stage; then write once.

A subclass says how its product creates a job for a page (``create_job``), where a finished job's result is
(``fetch_result``) and what the next page's request is (``next_request``); this class does the rest, with
the load side's machinery: the same hook (token shared, trouble waited out until the task's deadline), the
same status poll and error table in poke mode, the same ``ZohoJobTrigger`` when deferrable, one absolute
deadline.

Retry without a second export: each page's job id, its request (the page number, page token or cursor that
asked for it) and what its staged file holds go to the task's ``task_state_store`` (Airflow 3.3+) before any
wait: the ids, a plain list, under ``zoho_job_ids`` (as the load operators store them), the pages under
``zoho_export_pages``. A retry reattaches to a job still running, downloads again a completed job's result,
keeps the pages already staged, and creates anew only a failed job (or one whose result Zoho no longer has).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, NoReturn, TypeVar

from airflow_provider_zoho.compat import AirflowException, AirflowFailException, BaseOperator, Context, conf
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.defaults import DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT_SECONDS, DEFERRAL_GRACE_SECONDS
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.jobs import (
    EventStatus,
    JobKind,
    JobStatus,
    Phase,
    check_positive_seconds,
    checked_event,
    is_template,
    job_id_problem,
)
from airflow_provider_zoho.lineage import file_dataset, operator_lineage, zoho_dataset
from airflow_provider_zoho.links import ZohoLink, job_link, push_link
from airflow_provider_zoho.operators.base import (
    JOB_IDS_KEY,
    job_trigger,
    own_xcom,
    permanent_errors_fail_at_once,
    poll_job,
    repeat_while_busy,
    tell_outlets,
)
from airflow_provider_zoho.operators.extract_files import (
    Destination,
    ExportProblem,
    StagedPage,
    copy_bounded,
    csv_member,
    stage_csv,
)

# The pages of an export as this operator stores them beside the plain id list.
EXPORT_PAGES_KEY = "zoho_export_pages"
# The most bytes one result may inflate to, by default: far beyond one page of 200,000 records of a wide
# module, and still a bound on what a hostile answer could make a worker write.
DEFAULT_MAX_DOWNLOAD_BYTES = 20 * 2**30
_T = TypeVar("_T")


@dataclass(frozen=True)
class Result:
    """A finished job's result, downloaded to local disk.

    :param path: the downloaded file.
    :param zipped: it is a zip holding the CSV (CRM, Bigin, Creator); else the file itself (Analytics).
    """

    path: Path
    zipped: bool


class ResultGone(Exception):
    """Zoho no longer has a completed job's result (it expired): the page's job is created anew."""


class ZohoExtractOperator(BaseOperator):
    """Exports from Zoho with one bulk job per page and writes every page, in order, to one file.

    :param destination: where the export goes: a local path or any ObjectStoragePath URI (``s3://...``);
        templated. It is written once, at the end (whole or not at all); the pages are staged beside it in
        ``<destination>.parts/`` meanwhile and removed when the run succeeds.
    :param max_records: write at most this many data rows; None: every page.
    :param max_download_bytes: the most bytes one result may have once inflated (and downloaded); past it
        the task fails, naming the bound, and nothing is written at ``destination``.
    :param zoho_conn_id: the ``zoho`` connection.
    :param deferrable: wait for each job in the triggerer. Defaults to ``[operators] default_deferrable``.
    :param poll_interval: seconds between status polls, in poke and deferrable mode.
    :param timeout: seconds the whole export may take, counted from the start of the task (an absolute
        deadline that a deferral does not reset); past it the task fails and a retry reattaches.
    :param reattach_on_retry: keep the pages' job ids in ``task_state_store`` (Airflow 3.3+) so that a
        retry goes on from the page the last try reached instead of exporting again.
    """

    job_kind: ClassVar[JobKind]
    template_fields: Sequence[str] = ("destination",)
    ui_color = "#e8ecf7"
    operator_extra_links = (ZohoLink(),)

    def __init__(
        self,
        *,
        destination: str,
        max_records: int | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        reattach_on_retry: bool = True,
        **kwargs: Any,
    ) -> None:
        """Check the arguments known at parse time and keep them; each is described in the class docstring.

        :raises ValueError: an argument that is not a template is wrong.
        """
        super().__init__(**kwargs)
        check_positive_seconds(f"{self.task_id}: poll_interval", poll_interval)
        check_positive_seconds(f"{self.task_id}: timeout", timeout)
        self.destination = destination
        self.max_records = max_records
        self.max_download_bytes = max_download_bytes
        self.zoho_conn_id = zoho_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.reattach_on_retry = reattach_on_retry
        self._end_time = 0.0
        self._restarted = False  # started again from the first page in this try (an expired cursor)
        self._last_summary: dict[str, Any] | None = None  # what this try returned, for OpenLineage
        problems = [*self._base_problems(rendered=False), *self.argument_problems(rendered=False)]
        if problems:
            raise ValueError(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def _base_problems(self, *, rendered: bool) -> list[str]:
        problems: list[str] = []
        if known(self.destination, rendered) and (
            not isinstance(self.destination, str) or not self.destination.strip()
        ):
            problems.append("destination is required: a local path or an ObjectStoragePath URI")
        if self.max_records is not None and not _whole(self.max_records, 1):
            problems.append(
                f"max_records must be a whole number >= 1, or None for every page; got {self.max_records!r}"
            )
        if not _whole(self.max_download_bytes, 1):
            problems.append(f"max_download_bytes must be a whole number of bytes >= 1, got {self.max_download_bytes!r}")
        return problems

    @cached_property
    def _zoho_hook(self) -> ZohoHook:
        return ZohoHook(self.zoho_conn_id)

    @property
    def hook(self) -> ZohoHook:
        """Return the sync hook, set to wait out trouble (a refused token, 429, 5xx) until the task's deadline.

        :return: the ``ZohoHook`` of ``zoho_conn_id`` (one per operator).
        """
        hook = self._zoho_hook
        hook.wait_out_until = self._end_time or None
        return hook

    # -- what a subclass provides ---------------------------------------------------------------------------
    def argument_problems(self, *, rendered: bool) -> list[str]:
        """Return what is wrong with the product's own arguments; a template is skipped until it is rendered.

        :param rendered: the templates are rendered (the task runs); False at parse time.
        :return: one message per problem.
        """
        return []

    def first_request(self) -> dict[str, Any]:
        """Return the first page's request (CRM: ``{"page": 1}``); the next ones come from ``next_request``.

        :return: the request, JSON-safe (it is stored with the page).
        """
        return {}

    def create_job(self, request: Mapping[str, Any]) -> str:
        """Create the job that exports one page, and return its id.

        :param request: the page's request (``first_request`` or a ``next_request``).
        :return: the new job's id.
        """
        raise NotImplementedError

    def link_parts(self) -> dict[str, Any]:
        """Return what the task's link to Zoho's UI is built from (``links.job_link``); nothing by default.

        :return: the parts known (``org_id``, ``module``, ``workspace_id``, link names...).
        """
        return {}

    def zoho_url(self) -> str | None:
        """Return the URL of what the export reads in Zoho's UI, or None when a part is not known.

        :return: the URL (also the task's "Zoho" button, and in the log line of each job created).
        """
        return job_link(self.job_kind.name, self.hook.config.data_center, self.link_parts())

    def job_coordinates(self, job_id: str) -> dict[str, str | None]:
        """Return the coordinates a status poll of ``job_id`` needs (by default the id alone).

        :param job_id: one of this task's job ids.
        :return: the kind's coordinates.
        """
        return {"job_id": job_id}

    def fetch_result(self, job: Mapping[str, Any], work: Path) -> Result:
        """Download a finished job's result into ``work``.

        :param job: the job's summary (its answer holds the result's link).
        :param work: a directory for the download.
        :return: the downloaded file.
        :raises ~airflow_provider_zoho.operators.extract.ResultGone: Zoho no longer has the result.
        """
        raise NotImplementedError

    def next_request(self, job: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the request of the page after ``job``'s, or None when it was the last.

        :param job: the finished job's summary.
        :return: the next page's request, or None.
        """
        return None

    def request_expired(self, error: ZohoError, request: Mapping[str, Any]) -> bool:
        """Tell whether Zoho refused a next page's request because what it carries expired (a cursor, a token).

        The export then starts again from the first page, once per try: the pages staged so far cannot be
        continued. False by default.

        :param error: Zoho's refusal of the create.
        :param request: the page's request.
        :return: True when the request's cursor or token is what Zoho refused.
        """
        return False

    def _restart(self, context: Context, pages: list[dict[str, Any]], error: ZohoError) -> None:
        self.log.warning(
            "%s: Zoho refused the next page's %s (%s), most likely expired: exporting again from the first page",
            self.task_id,
            sorted(pages[-1]["request"]),
            error,
        )
        self._restarted = True
        self._out.clean()
        pages[:] = [_new_page(self.first_request())]
        self._remember(context, pages)

    def check_page(self, page: StagedPage, request: Mapping[str, Any]) -> None:
        """Fail on a staged page that cannot be right (Analytics: a SQL export Zoho cut); nothing by default.

        :param page: what the page holds.
        :param request: the page's request.
        """

    # -- execute --------------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Export every page (or reattach to the pages a last try reached) and write the destination.

        :param context: the task's context.
        :return: the summary: ``kind``, ``job_ids``, ``state``, ``records``, ``pages``, ``destination``,
            ``columns``, ``bytes``, ``watermark``.
        """
        with permanent_errors_fail_at_once():
            self._end_time = time.time() + float(self.timeout)
            if problems := [*self._base_problems(rendered=True), *self.argument_problems(rendered=True)]:
                raise AirflowFailException(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))
            pages = self._stored_pages(context)
            if pages:
                self.log.info("Found the export's pages from an earlier try: jobs %s", [p["job_id"] for p in pages])
                self._reattach(pages)
            else:
                pages = [_new_page(self.first_request())]
            return self._run(context, pages)

    def execute_complete(
        self, context: Context, event: Any, pages: list[dict[str, Any]] | None = None, end_time: float | None = None
    ) -> Any:
        """Go on with the export once the triggerer says the current page's job ended.

        :param context: the task's context.
        :param event: the trigger's event (``jobs.JobEvent``).
        :param pages: the export's pages, as the deferral passed them (else from ``task_state_store`` or this
            try's XCom).
        :param end_time: the task's absolute deadline.
        :return: the summary, once every page is written.
        """
        with permanent_errors_fail_at_once():
            self._end_time = time.time() + float(self.timeout) if end_time is None else end_time
            if pages is None:
                pages = self._stored_pages(context) or self._pages_from_xcom(context)
                if not pages:
                    raise AirflowException(
                        "resumed without the deferral's kwargs (airflow dags test?), and neither task_state_store"
                        f" nor this try's XCom holds {EXPORT_PAGES_KEY}"
                    )
            try:
                status, outcome = checked_event(event)
            except ValueError as error:
                raise AirflowException(str(error)) from error
            if status is EventStatus.SUCCESS and outcome["summary"] is not None:
                self.log.info("%s", outcome["message"])
                self._stage(context, pages, outcome["summary"])
                return self._run(context, pages)
            self.log.error("%s", outcome["message"])
            if status is EventStatus.ERROR:
                raise AirflowFailException(outcome["message"])
            if status is EventStatus.FAILED:
                raise AirflowException(f"{outcome['message']}; a retry creates the failed job anew")
            raise AirflowException(f"{outcome['message']}: a retry reattaches")

    def _run(self, context: Context, pages: list[dict[str, Any]]) -> dict[str, Any]:
        """Create, wait for and stage each page in turn, then write the destination."""
        while True:
            page = pages[-1]
            if page["staged"] is None:
                if page["job_id"] is None:
                    try:
                        page["job_id"] = self.create_job(page["request"])
                    except ZohoError as error:
                        if len(pages) == 1 or self._restarted or not self.request_expired(error, page["request"]):
                            raise
                        self._restart(context, pages, error)
                        continue
                    url = self.zoho_url()
                    self.log.info(
                        "Created %s %s for page %d (%s)%s",
                        self.job_kind.label,
                        page["job_id"],
                        len(pages),
                        page["request"],
                        f"; in Zoho: {url}" if url else "",
                    )
                    self._remember(context, pages)
                self._stage(context, pages, self._wait(context, pages))
                continue  # staged now, or its result was gone and the page's job is to be created again
            left = self._rows_left(pages)
            if page["next"] is None or left == 0:
                return self._finish(context, pages)
            pages.append(_new_page(page["next"]))
            self._remember(context, pages)

    def _wait(self, context: Context, pages: list[dict[str, Any]]) -> dict[str, Any]:
        """Wait for the current page's job (poke, or defer) and return its summary once it completed."""
        job_id = pages[-1]["job_id"]
        while True:
            job = self._poll_once(job_id)
            if job.phase is Phase.FAILED:
                raise AirflowException(f"{job.describe()}; a retry creates the failed job anew")
            if job.phase is Phase.SUCCEEDED:
                self.log.info("%s", job.describe())
                return job.summary()
            job.log_progress(self.log)
            if time.time() >= self._end_time:
                raise AirflowException(f"Timed out waiting for {self.job_kind.label} {job_id}: a retry reattaches")
            if self.deferrable:
                self._defer(pages, job_id)
            time.sleep(max(0.0, min(self.poll_interval, self._end_time - time.time())))

    def _defer(self, pages: list[dict[str, Any]], job_id: str) -> NoReturn:
        self.defer(
            trigger=job_trigger(self, self.job_coordinates(job_id), self._end_time),
            method_name="execute_complete",
            kwargs={"pages": pages, "end_time": self._end_time},
            timeout=timedelta(seconds=max(0.0, self._end_time - time.time()) + DEFERRAL_GRACE_SECONDS),
        )

    def _poll_once(self, job_id: str) -> JobStatus:
        return poll_job(self.hook, self.job_kind, self.job_coordinates(job_id), self.log)

    # -- staging ----------------------------------------------------------------------------------------------
    def _stage(self, context: Context, pages: list[dict[str, Any]], job: Mapping[str, Any]) -> None:
        """Download the current page's result, check it, stage it beside the destination and remember it."""
        page = pages[-1]
        try:
            staged = self._stage_result(len(pages), job, self._rows_left(pages[:-1]))
        except ResultGone as gone:
            if page.get("recreated"):
                raise AirflowException(f"{self.job_kind.label} {page['job_id']}: {gone}, again") from None
            self.log.warning("%s %s: %s; creating the page's job anew", self.job_kind.label, page["job_id"], gone)
            page.update(job_id=None, recreated=True)
            self._remember(context, pages)
            return
        if len(pages) > 1 and staged.columns != pages[0]["staged"]["columns"]:
            raise AirflowFailException(
                f"{self.task_id}: page {len(pages)} has the columns {staged.columns[:20]}, page 1 "
                f"{pages[0]['staged']['columns'][:20]}: the pages cannot go into one file; nothing was written at "
                f"{self.destination}"
            )
        self.check_page(staged, page["request"])
        page["staged"] = asdict(staged)
        page["next"] = None if staged.cut else self.next_request(job)
        self.log.info(
            "Page %d: %s rows, %d bytes staged at %s", len(pages), staged.rows, staged.size, self._out.page(len(pages))
        )
        self._remember(context, pages)

    def _stage_result(self, number: int, job: Mapping[str, Any], rows_left: int | None) -> StagedPage:
        """Download one page's result to local disk, check it and put it in the staging directory."""
        with tempfile.TemporaryDirectory(prefix="zoho-export-") as work:
            try:
                result = self.fetch_result(job, Path(work))
            except ZohoError as error:
                if error.code != "INVALID_RESPONSE":
                    raise  # trouble on the way: waited out until the deadline already, or no retry can fix it
                raise AirflowFailException(
                    f"{self.task_id}: {self.job_kind.label} {job.get('job_id')}: its result cannot be trusted "
                    f"({error.message}; max_download_bytes={self.max_download_bytes:,}); nothing was written at "
                    f"{self.destination}"
                ) from None
            local = Path(work) / f"page-{number:05d}.csv"
            try:
                with local.open("wb") as sink:
                    if result.zipped:
                        with csv_member(result.path) as member:
                            staged = stage_csv(member, sink, max_bytes=self.max_download_bytes, max_rows=rows_left)
                    elif self.result_is_csv:
                        with result.path.open("rb") as source:
                            staged = stage_csv(source, sink, max_bytes=self.max_download_bytes, max_rows=rows_left)
                    else:
                        with result.path.open("rb") as source:
                            size = copy_bounded(source, sink, self.max_download_bytes)
                        staged = StagedPage(None, size, 0, [], None, False)
            except ExportProblem as problem:
                raise AirflowFailException(
                    f"{self.task_id}: {self.job_kind.label} {job.get('job_id')}: {problem}; nothing was written at "
                    f"{self.destination}"
                ) from None
            result.path.unlink(missing_ok=True)
            self._out.stage(local, number)
        return staged

    @property
    def result_is_csv(self) -> bool:
        """Tell whether a result that is not zipped is a CSV (an Analytics export in CSV); True by default."""
        return True

    def _seconds_left(self) -> float:
        """Return the seconds a download may take: what is left of the deadline, at least a minute."""
        return max(60.0, self._end_time - time.time())

    @cached_property
    def _out(self) -> Destination:
        return Destination(self.destination)

    def _rows_left(self, pages: Sequence[Mapping[str, Any]]) -> int | None:
        """Return the rows ``max_records`` still allows after the staged ``pages``, or None without a bound."""
        if self.max_records is None:
            return None
        written = sum((page["staged"] or {}).get("rows") or 0 for page in pages)
        return max(0, int(self.max_records) - written)

    # -- the end ---------------------------------------------------------------------------------------------
    def _finish(self, context: Context, pages: list[dict[str, Any]]) -> dict[str, Any]:
        """Write the staged pages to the destination (once), remove them, and return the summary."""
        out = self._out
        for number, page in enumerate(pages, start=1):
            if not out.page(number).exists():
                # Staged by a try on another worker whose disk this one does not see: downloaded again.
                self.log.info("Page %d is not staged where this worker sees it: downloading it again", number)
                job = self._poll_once(page["job_id"])
                if job.phase is not Phase.SUCCEEDED:
                    raise AirflowException(f"{job.describe()}: page {number} must be exported again; a retry does")
                self._stage_result(number, job.summary(), self._rows_left(pages[: number - 1]))
        size = out.write(
            [(out.page(n), 0 if n == 1 else page["staged"]["header_size"]) for n, page in enumerate(pages, start=1)]
        )
        out.clean()
        rows = [page["staged"]["rows"] for page in pages]
        watermarks = [mark for page in pages if (mark := page["staged"]["watermark"])]
        summary = {
            "kind": self.job_kind.name,
            "job_ids": [page["job_id"] for page in pages],
            "state": "COMPLETED",
            "records": None if None in rows else sum(rows),
            "pages": len(pages),
            "destination": self.destination,
            "columns": pages[0]["staged"]["columns"],
            "bytes": size,
            "watermark": max(watermarks, key=_moment) if watermarks else None,
        }
        self.log.info(
            "Wrote %s records in %d page(s), %d bytes, to %s", summary["records"], len(pages), size, self.destination
        )
        self._store(context, None)
        self._tell_outlets(context, {key: summary[key] for key in ("records", "job_ids", "watermark")})
        self._last_summary = summary
        return summary

    def _tell_outlets(self, context: Context, extra: dict[str, Any]) -> None:
        """Put what arrived into the asset event of each of the task's outlets, for DAGs scheduled on them."""
        tell_outlets(self, context, extra)

    # -- lineage ------------------------------------------------------------------------------------------------
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return the task's lineage for Airflow's OpenLineage listener: the Zoho side in, the file out.

        :param task_instance: the finished task instance (unused: the operator kept what it wrote).
        :return: an ``OperatorLineage``, the output with the rows, bytes and columns written.
        """
        return self._lineage(self._last_summary)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Return the task's lineage when it failed: the same datasets, without statistics.

        :param task_instance: the failed task instance (unused).
        :return: an ``OperatorLineage``.
        """
        return self._lineage(None)

    def _lineage(self, summary: Mapping[str, Any] | None) -> Any:
        written = file_dataset(str(summary["destination"] if summary else self.destination))
        if summary:
            written = replace(written, rows=summary["records"], size=summary["bytes"], columns=summary["columns"])
        return operator_lineage([zoho_dataset(self.job_kind.name, self.hook.config, self.link_parts())], [written])

    # -- what a retry finds ----------------------------------------------------------------------------------
    def _remember(self, context: Context, pages: list[dict[str, Any]]) -> None:
        """Store the pages (ids first) where a retry looks, then push the ids to XCom, before any wait."""
        self._store(context, pages)
        if (ti := context.get("ti")) is not None:
            ti.xcom_push(key=JOB_IDS_KEY, value=[page["job_id"] for page in pages if page["job_id"]])
            if self._state_store(context) is None:
                # Where a resume that lost the deferral's kwargs finds the pages when no task_state_store holds
                # them: ``airflow dags test`` resumes with the trigger's event alone (2.11 has no store at all).
                ti.xcom_push(key=EXPORT_PAGES_KEY, value=pages)
        push_link(context, self.zoho_url())

    def _state_store(self, context: Context) -> Any:
        """Return the ``task_state_store`` the pages are kept in, or None (none exists, or no reattaching)."""
        return context.get("task_state_store") if self.reattach_on_retry else None

    def _store(self, context: Context, pages: list[dict[str, Any]] | None) -> None:
        store = self._state_store(context)
        if store is None:
            return
        if pages is None:  # the export is written: nothing left for a retry to go on from
            store.delete(JOB_IDS_KEY)
            store.delete(EXPORT_PAGES_KEY)
            return
        store.set(JOB_IDS_KEY, [page["job_id"] for page in pages])
        store.set(EXPORT_PAGES_KEY, pages)  # type: ignore[arg-type]  # JSON: ids, texts, numbers and booleans

    def _stored_pages(self, context: Context) -> list[dict[str, Any]] | None:
        store = self._state_store(context)
        stored = store.get(EXPORT_PAGES_KEY) if store is not None else None
        return checked_pages(stored) if stored else None

    def _pages_from_xcom(self, context: Context) -> list[dict[str, Any]] | None:
        """Return the pages this try pushed to XCom where no ``task_state_store`` keeps them, or None."""
        pushed = own_xcom(context, self.task_id, EXPORT_PAGES_KEY)
        return checked_pages(pushed) if pushed else None

    def _reattach(self, pages: list[dict[str, Any]]) -> None:
        """Poll the page a last try was waiting for: a failed job (or one Zoho forgot) is created anew."""
        page = pages[-1]
        if page["staged"] is not None or page["job_id"] is None:
            return
        try:
            job = self.hook.get_job_status(self.job_kind, self.job_coordinates(page["job_id"]))
        except ZohoError as error:
            if error.http_status != 404:
                raise
            job = None
        if job is None or job.phase is Phase.FAILED:
            self.log.info(
                "%s %s failed or is gone: creating page %d's job anew", self.job_kind.label, page["job_id"], len(pages)
            )
            page["job_id"] = None

    def until_ready(self, call: Callable[[], _T], codes: Collection[str], what: str) -> _T:
        """Make ``call()``, again every ``poll_interval`` while Zoho answers "not ready, try later", until the deadline.

        :param call: the request.
        :param codes: Zoho's codes that mean "not ready yet" (Analytics' 8121, 8122; "busy": 8132).
        :param what: what the call does, for the log.
        :return: what ``call()`` returned.
        """
        return repeat_while_busy(call, codes, what, self._end_time, self.poll_interval, self.log)


def known(value: Any, rendered: bool) -> bool:
    """Tell whether an argument's value is known now: always once rendered, at parse time unless a template.

    :param value: the argument.
    :param rendered: the templates are rendered.
    :return: True when it can be checked.
    """
    return rendered or (not (isinstance(value, str) and is_template(value)) and not hasattr(value, "resolve"))


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _new_page(request: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": None, "request": request, "staged": None, "next": None}


def _moment(text: str) -> dt.datetime:
    """Order ``Modified_Time`` values by the moment they name (text that is none sorts first)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


_STAGED_TYPES = {"size": int, "header_size": int, "columns": list, "cut": bool}


def checked_pages(stored: Any) -> list[dict[str, Any]]:
    """Return the pages a last try stored, checked where they enter: each id goes into URLs and log lines.

    :param stored: what ``task_state_store`` holds under ``zoho_export_pages``.
    :return: the pages.
    :raises AirflowFailException: a corrupt entry, named: a new job would export again what the stored one did.
    """
    problems: list[str] = []
    if not isinstance(stored, list) or not all(isinstance(page, dict) for page in stored):
        problems.append("it is not a list of pages")
        stored = []
    for n, page in enumerate(stored, start=1):
        job_id = page.get("job_id")
        if job_id is not None and (problem := job_id_problem(job_id)):
            problems.append(f"page {n}'s job_id {problem}")
        if not isinstance(page.get("request"), dict) or not (
            page.get("next") is None or isinstance(page["next"], dict)
        ):
            problems.append(f"page {n}'s request or next is not an object")
        staged = page.get("staged")
        if staged is not None and not (
            isinstance(staged, dict)
            and all(
                isinstance(staged.get(key), kind) and not (kind is int and isinstance(staged.get(key), bool))
                for key, kind in _STAGED_TYPES.items()
            )
            and (staged.get("rows") is None or _whole(staged.get("rows"), 0))
            and (staged.get("watermark") is None or isinstance(staged.get("watermark"), str))
        ):
            problems.append(f"page {n}'s staged record is not what this operator writes")
        if staged is None and n < len(stored):
            problems.append(f"page {n} is not staged, yet a later page exists")
    if problems:
        raise AirflowFailException(
            f"{EXPORT_PAGES_KEY} stored by an earlier try is corrupt ({'; '.join(problems)}); no job was created. "
            "Clear the task's stored state once you know what became of its jobs"
        )
    return [
        {
            "job_id": None if page.get("job_id") is None else str(page["job_id"]),
            "request": page["request"],
            "staged": page.get("staged"),
            "next": page.get("next"),
            **({"recreated": True} if page.get("recreated") else {}),
        }
        for page in stored
    ]
