"""Export a Zoho Creator report with bulk read jobs, batch after batch, into one CSV at any ObjectStoragePath.

A batch holds up to 200,000 records; the next batch is a new job whose body holds only the ``record_cursor``
the last one gave, valid 15 minutes, so it is created right after the download. Facts: ``docs/zoho-api.md``,
"Reading and exporting" (https://www.zoho.com/creator/help/api/v2.1/bulk-read-api/).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.exchange import ApiRequest, creator_bulk_request, read_creator_read_job_id
from airflow_provider_zoho.jobs import CREATOR_BULK_READ, coordinate_problems
from airflow_provider_zoho.operators.extract import Result, ResultGone, ZohoExtractOperator, known
from airflow_provider_zoho.products import CREATOR


class ZohoCreatorBulkReadOperator(ZohoExtractOperator):
    """Export a Creator report's records, every batch chained with ``record_cursor``, into one CSV.

    :param account_owner_name: the Creator account owner's user name.
    :param app_link_name: the application's link name.
    :param report_link_name: the report's link name (bulk read reads a report, not a form).
    :param destination: see ``ZohoExtractOperator``; templated.
    :param fields: the fields' link names; None: every field of the report.
    :param criteria: Creator's criteria text (``(Status == "Open")``); templated.
    :param environment: ``development`` or ``stage``; default the connection's ``creator_environment``.
    :param max_records: see ``ZohoExtractOperator``.
    :param max_download_bytes: see ``ZohoExtractOperator``.

    See ``ZohoExtractOperator`` for the connection, waiting, deadlines and what a retry does.
    """

    job_kind = CREATOR_BULK_READ
    template_fields: Sequence[str] = (
        "destination",
        "account_owner_name",
        "app_link_name",
        "report_link_name",
        "fields",
        "criteria",
        "environment",
    )

    def __init__(
        self,
        *,
        account_owner_name: str,
        app_link_name: str,
        report_link_name: str,
        fields: list[str] | None = None,
        criteria: str | None = None,
        environment: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the arguments and check those known at parse time; each is described in the class docstring.

        :raises ValueError: a link name (one with ``/``...), the environment, ``fields`` or ``criteria``, when
            not a template, is wrong.
        """
        self.account_owner_name = account_owner_name
        self.app_link_name = app_link_name
        self.report_link_name = report_link_name
        self.fields = fields
        self.criteria = criteria
        self.environment = environment
        super().__init__(**kwargs)

    def _names(self) -> dict[str, str | None]:
        return {
            "account_owner_name": self.account_owner_name,
            "app_link_name": self.app_link_name,
            "report_link_name": self.report_link_name,
            "environment": self.environment,
        }

    def argument_problems(self, *, rendered: bool) -> list[str]:
        """Return what is wrong with the link names, the environment, ``fields`` and ``criteria``.

        :param rendered: the templates are rendered.
        :return: one message per problem.
        """
        # The kind's own checks (a link name is one path segment; the environment's choices); "0" stands for
        # the job id, not known yet.
        problems = coordinate_problems(self.job_kind, {**self._names(), "job_id": "0"}, rendered=rendered)
        if (
            known(self.fields, rendered)
            and self.fields is not None
            and (
                not isinstance(self.fields, list)
                or not self.fields
                or not all(isinstance(f, str) and f for f in self.fields)
            )
        ):
            problems.append("fields must be a non-empty list of field link names, or None for every field")
        if known(self.criteria, rendered) and self.criteria is not None and not isinstance(self.criteria, str):
            problems.append(
                f"criteria must be Creator's criteria text, e.g. '(Status == \"Open\")'; got {self.criteria!r}"
            )
        return problems

    def link_parts(self) -> dict[str, Any]:
        """Return the report's link names.

        :return: the parts of the task's link to the report in Zoho's UI.
        """
        return self._names()

    def job_coordinates(self, job_id: str) -> dict[str, str | None]:
        """Return the coordinates a status poll of ``job_id`` needs: the report's link names and the environment.

        :param job_id: the task's job id.
        :return: the coordinates of ``CREATOR_BULK_READ``.
        """
        return {**self._names(), "job_id": job_id}

    def _request(self, call: str, job_id: str | None = None) -> ApiRequest:
        names = {
            "account_owner_name": str(self.account_owner_name),
            "app_link_name": str(self.app_link_name),
            "report_link_name": str(self.report_link_name),
            **({"job_id": job_id} if job_id else {}),
        }
        environment = self.environment or self.hook.config.creator_environment
        return creator_bulk_request(self.hook.config, call, names, environment=environment)

    def create_job(self, request: Mapping[str, Any]) -> str:
        """Create the bulk read job of one batch: the query for the first, the cursor alone for the next ones.

        :param request: ``{}`` for the first batch, ``{"record_cursor": ...}`` after.
        :return: the job's id.
        """
        if request.get("record_cursor"):
            query: dict[str, Any] = {"record_cursor": request["record_cursor"]}  # Zoho takes nothing beside it
        else:
            query = {
                **({"fields": list(self.fields)} if self.fields else {}),
                **({"criteria": self.criteria} if self.criteria else {}),
                # The most a batch may hold (Zoho's default is 100,000): half the creates, which Zoho throttles.
                "max_records": CREATOR.limits["records_per_read_job"],
            }
        answer = self.hook.send_json("POST", self._request("bulk_read"), {"query": query}, creates=True)
        return read_creator_read_job_id(answer)

    def request_expired(self, error: ZohoError, request: Mapping[str, Any]) -> bool:
        """Tell whether Zoho refused a cursor: it is valid 15 minutes, which a retry may come after.

        *Unverified*: Zoho documents no code for an expired cursor; any refusal of a create that carries only
        the cursor (a 4xx) is taken as one.

        :param error: Zoho's refusal.
        :param request: the batch's request.
        :return: True for a refused cursor.
        """
        return "record_cursor" in request and error.http_status is not None and 400 <= error.http_status < 500

    def fetch_result(self, job: Mapping[str, Any], work: Path) -> Result:
        """Download a completed batch's zip from the documented result path.

        The status's ``download_url`` has the legacy ``/api/bulk/v2.1/...`` form, so the path is built here.
        "Still being generated" (11110) is asked again until the deadline.

        :param job: the job's summary.
        :param work: where the zip goes.
        :return: the zip.
        """
        request = self._request("bulk_read_result", str(job["job_id"]))
        target = work / "result.zip"
        with target.open("w+b") as sink:

            def download() -> int:
                return self.hook.download(
                    request.url,
                    sink,
                    self.max_download_bytes,
                    self._seconds_left(),
                    dialect=CREATOR.dialect,
                    headers={k: v for k, v in request.headers.items() if k != "Accept"},
                    expect_zip=True,
                )

            try:
                self.until_ready(download, CREATOR.busy_codes, f"{self.job_kind.label} {job['job_id']}: result")
            except ZohoError as error:
                # 11130 "result not found" (Zoho's Creator OpenAPI file): kept 24 hours, then created anew.
                if error.code == "11130" or error.http_status == 404:
                    raise ResultGone(f"Zoho no longer has its result ({error.code})") from None
                raise
        return Result(target, zipped=True)

    def next_request(self, job: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the next batch's request: the ``record_cursor`` of this one's result, if it has one.

        *Unverified* envelope: ``details.result`` in Zoho's pages, a top-level ``result`` in community code.

        :param job: the finished job's summary.
        :return: ``{"record_cursor": ...}``, or None after the last batch.
        """
        response = job.get("response")
        for where in ("details", None):
            holder = response.get(where) if where and isinstance(response, dict) else response
            result = holder.get("result") if isinstance(holder, dict) else None
            cursor = result.get("record_cursor") if isinstance(result, dict) else None
            if isinstance(cursor, str) and cursor:
                return {"record_cursor": cursor}
        return None
