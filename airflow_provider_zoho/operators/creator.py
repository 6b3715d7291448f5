"""Load a CSV into a Zoho Creator form with a bulk insert job (API v2.1), wait, and abort it if the task stops.

create -> upload -> start -> wait. Zoho's sources disagree on two calls, and both are supported: the upload
URL is ``…/insert/{job_id}`` in the docs' request line and ``…/insert?job_id=…`` in their sample and in Zoho's
Creator OpenAPI file; the start (and abort) is ``PATCH {"data": {"action": "Start"}}`` in the docs and ``PUT
{"action": "start"}`` in the OpenAPI file. The docs' form is tried first; a "no such URL / method" answer
moves on to the other, and the form that worked is used for the abort. Facts: ``docs/zoho-api.md``, "Creating
jobs".

Before the create (``preflight``), Creator's metadata APIs say whether the app and the form exist and which
fields the form has (https://www.zoho.com/creator/help/api/v2.1/get-forms.html, .../get-fields.html): a form
holds one active job, so a typo fails the task before it takes that slot.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from airflow_provider_zoho.compat import AirflowException, AirflowFailException, Context
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.exchange import (
    CREATOR_DOCS_STYLE,
    CREATOR_OPENAPI_STYLE,
    CREATOR_UPLOAD_FORMS,
    ApiRequest,
    creator_action,
    creator_bulk_request,
    read_creator_job_id,
)
from airflow_provider_zoho.jobs import CREATOR_BULK_INSERT, coordinate_problems, is_template
from airflow_provider_zoho.operators.analytics import local_copy
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.csv_parts import check_source_file
from airflow_provider_zoho.operators.preflight import closest, csv_header, entries, shown, unknown_names
from airflow_provider_zoho.operators.results import (
    LOGGED_FAILED_ROWS,
    FailedRows,
    ResultProblem,
    compact,
    failed_record,
    result_row_limit,
    result_rows,
    unreadable_result,
)
from airflow_provider_zoho.products import CREATOR

MAX_RESULT_BYTES = 200 * 1024 * 1024
# Answers that say "not this URL or method": the other source's form is tried.
WRONG_FORM_CODES = frozenset({"1000", "INVALID_URL_PATTERN", "INVALID_REQUEST_METHOD"})
WRONG_FORM_STATUSES = frozenset({404, 405})
ALREADY_OVER_CODES = frozenset({"11080", "11090", "11100"})  # aborted by a user / by the system / completed
ALREADY_UPLOADED = "11070"
# Creator's "no such owner / app / form" (status-codes page: 1040, 2892, 2893): the preflight says so.
NO_APP_CODES = frozenset({"1040", "2892"})
NO_FORM_CODE = "2893"
# Columns of the failure file that hold the reason (*unverified*: Zoho does not document its columns).
REASON_COLUMNS = frozenset({"reason", "error", "errors", "message", "error_message", "failure_reason"})


class ZohoCreatorBulkInsertOperator(ZohoJobOperator):
    """Insert the records of a CSV into a Zoho Creator form with a bulk insert job and wait.

    :param account_owner_name: the Creator account owner's user name.
    :param app_link_name: the application's link name.
    :param form_link_name: the form's link name.
    :param file: the CSV (or a zip holding one CSV), a local path or any ObjectStoragePath URI, at most
        100 MB; its header row holds the fields' link names (``Name.first_name`` for composite fields).
    :param environment: ``development`` or ``stage``; default the connection's ``creator_environment``.
    :param zoho_conn_id: see ``ZohoJobOperator``.
    :param wait_for_completion: see ``ZohoJobOperator``.
    :param deferrable: see ``ZohoJobOperator``.
    :param poll_interval: see ``ZohoJobOperator``.
    :param timeout: see ``ZohoJobOperator``.
    :param max_failed_records: see ``ZohoJobOperator``; here the records that failed or were left unprocessed.
    :param reattach_on_retry: see ``ZohoJobOperator``.

    ``max_failed_records`` counts failed plus unprocessed records. On completion with failures the
    failure result (``…/result?filter=failure``) is downloaded (again while Zoho answers 11110, "still being
    generated") and its rows go to ``failed_records``. Creator allows one active job per form: a create
    refused for that reason says so. When the task is killed or its wait times out, the job is aborted.

    Before the create (``preflight``, default on), Creator's metadata APIs are asked whether the app and the form
    exist, whether each header name is a field link name of the form and whether every mandatory field is in the
    header (a zip's header is not read); a problem fails the task before a job takes the form's slot. The
    token then also needs Creator's metadata scopes (*unverified*: ``ZohoCreator.meta.form.READ``); without them
    the check only warns.
    """

    job_kind = CREATOR_BULK_INSERT
    template_fields: Sequence[str] = ("account_owner_name", "app_link_name", "form_link_name", "file", "environment")

    def __init__(
        self,
        *,
        account_owner_name: str,
        app_link_name: str,
        form_link_name: str,
        file: str,
        environment: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the arguments and check those known at parse time; each is described in the class docstring.

        :raises ValueError: a link name, the environment or the file, when not a template, is wrong.
        """
        super().__init__(**kwargs)
        self.account_owner_name = account_owner_name
        self.app_link_name = app_link_name
        self.form_link_name = form_link_name
        self.file = file
        self.environment = environment
        self._style = CREATOR_DOCS_STYLE
        if problems := self._problems(rendered=False):
            raise ValueError(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def _problems(self, *, rendered: bool) -> list[str]:
        # The kind's own checks (link names, the environment's choices); "0" stands for the job id not known yet.
        problems = coordinate_problems(self.job_kind, {**self._names(), "job_id": "0"}, rendered=rendered)
        file_known = rendered or not (isinstance(self.file, str) and is_template(self.file))
        if file_known and (not isinstance(self.file, str) or not self.file.strip()):
            problems.append("file is required: pass the CSV's path or URI")
        return problems

    def _names(self) -> dict[str, str | None]:
        return {
            "account_owner_name": self.account_owner_name,
            "app_link_name": self.app_link_name,
            "form_link_name": self.form_link_name,
            "environment": self.environment,
        }

    def check_rendered(self) -> None:
        """Fail the task on a wrong rendered argument: the parse-time checks, now with every template known."""
        if problems := self._problems(rendered=True):
            raise AirflowFailException(f"{self.task_id} ({type(self).__name__}): " + "; ".join(problems))

    def link_parts(self) -> dict[str, Any]:
        """Return the form's link names.

        :return: the parts of the task's link to the form in Zoho's UI.
        """
        return self._names()

    def job_coordinates(self, job_id: str) -> dict[str, str | None]:
        """Return the coordinates a status poll of ``job_id`` needs: the form's link names and the environment.

        :param job_id: the task's job id.
        :return: the coordinates of ``CREATOR_BULK_INSERT``.
        """
        return {**self._names(), "job_id": job_id}

    def _request(self, call: str, job_id: str | None = None, query: Mapping[str, str] | None = None) -> ApiRequest:
        names = {
            "account_owner_name": self.account_owner_name,
            "app_link_name": self.app_link_name,
            "form_link_name": self.form_link_name,
            **({"job_id": job_id} if job_id else {}),
        }
        environment = self.environment or self.hook.config.creator_environment
        return creator_bulk_request(self.hook.config, call, names, environment=environment, query=query)

    def preflight_problems(self, context: Context) -> list[str]:
        """Check the app, the form and the CSV's header against Creator's metadata APIs.

        The app and the form must exist (a form's typo is answered with its closest link name); every header
        name must be a field link name of the form (``Name.first_name`` for a composite field's part); every
        mandatory field must be in the header. A zip's header is not read.

        :param context: the task's context.
        :return: one message per problem.
        :raises ZohoError: a metadata call Zoho refused otherwise (the base class only warns about it).
        """
        size = check_source_file(self.task_id, self.file)  # a missing file fails as the load would
        if size == 0 or size > CREATOR.limits["file_bytes"]:
            return []  # create_jobs says what is wrong with the file's size
        hook = self.hook
        where = f"app {self.app_link_name!r} of {self.account_owner_name!r}"
        try:
            listed = hook.get_json(self._request("forms"), patient=False)
        except ZohoError as error:
            if error.code in NO_APP_CODES:
                return [self._no_app(error)]
            raise
        forms = list(entries(listed, "forms", "link_name"))
        if forms and self.form_link_name not in forms:  # an empty or unreadable list proves nothing
            return unknown_names([self.form_link_name], forms, f"form of {where}")
        try:
            answer = hook.get_json(self._request("form_fields"), patient=False)
        except ZohoError as error:
            if error.code == NO_FORM_CODE:
                return [f"{self.form_link_name!r} is no form of {where} (Zoho answered {error.code})"]
            raise
        fields = list(entries(answer, "fields", "link_name").values())
        if not fields:
            return []  # nothing to compare the header with
        header = csv_header(self.file)
        if header is None:
            return []
        known: list[str] = []
        for one in fields:
            name = str(one["link_name"])
            raw_subs = one.get("subfields")
            subs = raw_subs if isinstance(raw_subs, list) else []
            known += [name, *(f"{name}.{s['link_name']}" for s in subs if isinstance(s, dict) and s.get("link_name"))]
        what = f"field link name of form {self.form_link_name!r}"
        problems = unknown_names([name.strip() for name in header], known, what)
        given = {name.strip().split(".", 1)[0] for name in header}
        problems += [
            f"mandatory field {shown(str(one['link_name']))} of form {self.form_link_name!r} is not in the file's header"
            for one in fields
            if one.get("mandatory") is True and str(one["link_name"]) not in given
        ]
        return problems

    def _no_app(self, error: ZohoError) -> str:
        """Say the app does not exist, with the closest of the owner's apps when the list can be read."""
        message = f"{self.app_link_name!r} is no app of {self.account_owner_name!r} (Zoho answered {error.code})"
        try:
            answer = self.hook.get_json(self._request("applications"), patient=False)
        except ZohoError:
            return message
        owner = self.account_owner_name
        owned = [
            name
            for name, app in entries(answer, "applications", "link_name").items()
            if owner in (app.get("workspace_name"), app.get("created_by"))
        ]
        suggestion = closest(self.app_link_name, owned)
        return message + (f"; did you mean {shown(suggestion)}?" if suggestion else "")

    # -- creating ---------------------------------------------------------------------------------------------
    def create_jobs(self, context: Context, state: dict[str, Any]) -> None:
        """Check the file, then create, upload and start the job.

        A job an earlier try created but never started is aborted first (it would hold the form's one active
        slot).

        :param context: the task's context.
        :param state: the task's jobs so far, replaced by the new job and remembered once it exists.
        """
        size = check_source_file(self.task_id, self.file)
        if size == 0 or size > CREATOR.limits["file_bytes"]:
            raise AirflowFailException(
                f"{self.task_id}: {self.file} is {size:,} bytes; Creator takes a CSV of 1 byte to "
                f"{CREATOR.limits['file_bytes'] // 2**20} MB; "
                "no job was created"
            )
        if not state.get("complete") and (half_made := [job_id for job_id in state["job_ids"] if job_id]):
            self.cancel_jobs(half_made, "an earlier try created it but did not start it")
        try:
            job_id = read_creator_job_id(self.hook.send_empty("POST", self._request("bulk_insert"), creates=True))
        except ZohoError as error:
            if error.http_status == 409 or re.search(r"\bactive\b|in.progress", error.message, re.IGNORECASE):
                raise AirflowException(self._active_job_message(error)) from None
            raise
        state["job_ids"], state["first_rows"], state["complete"] = [job_id], [2], False
        self.remember(context, state)
        self._waiting_on = [job_id]  # from now on, a kill aborts it
        self.created(job_id)
        with (
            tempfile.TemporaryDirectory(prefix="zoho-creator-insert-") as work,
            local_copy(self.file, Path(work)) as path,
        ):
            self._upload(job_id, path)
        self._act(job_id, "start")
        state["complete"] = True
        self.remember(context, state)
        self.log.info("Started %s %s with %s", self.job_kind.label, job_id, self.file)

    def _active_job_message(self, error: ZohoError) -> str:
        active = re.search(r"\b\d{6,}\b", error.message)
        which = f" (job {active.group(0)})" if active else " (Zoho did not say which job)"
        return (
            f"{self.task_id}: Creator allows one active bulk insert job per form, and form "
            f"{self.form_link_name!r} of {self.app_link_name!r} already has one{which}: wait for it to end or "
            f"abort it; a retry tries again. Zoho answered {error.code}: {error.message}"
        )

    def _upload(self, job_id: str, path: Path) -> None:
        content_type = "application/zip" if zipfile.is_zipfile(path) else "text/csv"

        def to(call: str, in_query: bool) -> Callable[[], Any]:
            request = self._request(call, query={"job_id": job_id}) if in_query else self._request(call, job_id)
            return lambda: self.hook.upload(request, path, "file", content_type)

        calls = [to(call, in_query) for call, in_query in CREATOR_UPLOAD_FORMS]
        try:
            _first_form_that_works(calls)
        except ZohoError as error:
            if error.code != ALREADY_UPLOADED:  # a retry of an upload Zoho had taken
                raise

    def _act(self, job_id: str, action: str) -> None:
        """Start or abort, in the form that worked before (or the docs' form, then the OpenAPI file's)."""
        styles = [self._style, *({CREATOR_DOCS_STYLE, CREATOR_OPENAPI_STYLE} - {self._style})]

        def call(style: str) -> Callable[[], Any]:
            def send() -> Any:
                method, body = creator_action(action, style)
                answer = self.hook.send_json(method, self._request("bulk_insert_job", job_id), body)
                self._style = style
                return answer

            return send

        _first_form_that_works([call(style) for style in styles])

    def cancel_jobs(self, job_ids: list[str], why: str) -> None:
        """Abort each job (Creator's Abort action), saying so in the log; never raises (``on_kill`` calls it).

        A job that had already ended (Zoho's 11080, 11090, 11100) is logged as such, not as an error.

        :param job_ids: the jobs to abort.
        :param why: the reason, for the log.
        """
        for job_id in job_ids:
            self.log.warning("Aborting %s %s: %s", self.job_kind.label, job_id, why)
            try:
                self._act(job_id, "abort")
            except ZohoError as error:
                if error.code in ALREADY_OVER_CODES:
                    self.log.info("%s %s had already ended: %s", self.job_kind.label, job_id, error.message)
                else:
                    self.log.error("Could not abort %s %s: %s", self.job_kind.label, job_id, error)
            except Exception as error:
                self.log.error("Could not abort %s %s: %s", self.job_kind.label, job_id, error)
            else:
                self.log.warning("Aborted %s %s", self.job_kind.label, job_id)

    # -- results ----------------------------------------------------------------------------------------------
    def failed_rows(self, context: Context, state: Mapping[str, Any], jobs: list[dict[str, Any]]) -> FailedRows:
        """Download each job's failure result when it has failed records, log and keep its rows.

        The download is asked again while Zoho answers 11110 (the result is still being generated), until the
        task's deadline.

        :param context: the task's context.
        :param state: the task's jobs.
        :param jobs: each job's summary.
        :return: the failed rows kept for the summary, their total and their reasons.
        """
        failed = FailedRows()
        for job in jobs:
            if not job.get("counts", {}).get("failed"):
                continue
            with tempfile.TemporaryDirectory(prefix="zoho-creator-result-") as work:
                target = Path(work) / "failure.zip"
                what = f"Downloading the failure result of {self.job_kind.label} {job['job_id']}"
                self.until_deadline(partial(self._download, job, target), CREATOR.busy_codes, what)
                where = f"{self.task_id}: {self.job_kind.label} {job['job_id']}"
                for record in _read_failure_file(target, job, where, self.max_failed_records):
                    failed.add(record)
                    if failed.total <= LOGGED_FAILED_ROWS:
                        self.log.warning("Failed record: %s %s", record["errors"] or "no reason given", record)
        if failed.total:
            self.log.warning("%d record(s) failed; reasons %s", failed.total, failed.codes)
        return failed

    def _download(self, job: Mapping[str, Any], target: Path) -> None:
        request = self._request("bulk_insert_result", str(job["job_id"]), {"filter": "failure"})
        with target.open("w+b") as sink:
            self.hook.download(
                request.url,
                sink,
                MAX_RESULT_BYTES,
                time_allowed=max(60.0, float(self.timeout)),
                dialect=CREATOR.dialect,
                headers={k: v for k, v in request.headers.items() if k != "Accept"},
                # An error Zoho sent with HTTP 200 (11110 may come so) is read as Creator's answer, redacted.
                expect_zip=True,
            )


def _first_form_that_works(calls: list[Callable[[], Any]]) -> Any:
    """Return the answer of the first call Zoho does not refuse as "no such URL or method".

    Any other error is raised at once; when every call is refused so, the last refusal is raised.
    """
    for index, call in enumerate(calls):
        try:
            return call()
        except ZohoError as error:
            wrong_form = error.code in WRONG_FORM_CODES or error.http_status in WRONG_FORM_STATUSES
            if not wrong_form or index == len(calls) - 1:
                raise
    raise AssertionError("no forms to try")


def _read_failure_file(
    path: Path, job: Mapping[str, Any], what: str, threshold: int | None
) -> Iterator[dict[str, Any]]:
    """Yield the failure result's rows, compacted as the summary keeps them.

    ``errors`` comes from its reason column, the input columns are kept as they are (one named ``row``,
    ``status`` or ``errors`` kept as ``"row (2)"``...).

    ``row`` is None: Creator's failure file does not say which input line a record came from. A file that
    cannot be read (see ``result_rows``), or holds more rows than the job had records, raises the task's
    ``AirflowException`` naming ``what``, the job's counts and ``threshold``.
    """
    try:
        for _, columns in result_rows(path, result_row_limit(CREATOR_BULK_INSERT, job.get("counts") or {})):
            reason = next((value for name, value in columns if name.strip().lower() in REASON_COLUMNS), "")
            others = [(name, value) for name, value in columns if name.strip().lower() not in REASON_COLUMNS]
            yield compact(failed_record(None, "failed", reason, others))
    except ResultProblem as problem:
        raise unreadable_result(what, job, problem, threshold) from None
