"""Export a Zoho Analytics table, view or SQL query with an async export job into a file at any ObjectStoragePath.

The create is a GET with Zoho's CONFIG as a query parameter; the job's result is the file itself (no zip, no
envelope), asked for once the job says 1004. Facts: ``docs/zoho-api.md``, "Reading and exporting"
(https://www.zoho.com/analytics/api/v2/bulk-api/export-data-async.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.exchange import analytics_export_request, read_analytics_job_id
from airflow_provider_zoho.jobs import ANALYTICS_EXPORT
from airflow_provider_zoho.operators.extract import Result, ResultGone, ZohoExtractOperator, known
from airflow_provider_zoho.operators.extract_files import StagedPage
from airflow_provider_zoho.products import ANALYTICS

# The formats a table export can be read back from; Zoho also exports xml, xls, pdf, html and images.
RESPONSE_FORMATS = ("csv", "json")
# Zoho cuts a SQL export at this many rows while the job still reports success.
SQL_EXPORT_ROWS = ANALYTICS.limits["sql_export_rows"]
# Zoho's codes on the create ("5 exports running") and on the download ("queued", "running"): asked again.
_BUSY = ("8132",)
_NOT_READY = ("8121", "8122")
# The download's "job not found, or its result expired": the export is created anew (once per try).
_GONE = "8120"


class ZohoAnalyticsExportOperator(ZohoExtractOperator):
    """Export a table or view (``view_id``) or a SQL query (``sql_query``) of a workspace into one file.

    :param workspace_id: the workspace's id.
    :param view_id: the table or view to export; exactly one of ``view_id`` and ``sql_query``.
    :param sql_query: a SQL SELECT over the workspace's tables; templated. Zoho cuts such an export at
        800,000 rows while reporting success: a result of exactly that many rows fails the task (see
        ``allow_truncated``).
    :param destination: see ``ZohoExtractOperator``; templated.
    :param response_format: ``csv`` (the default) or ``json``.
    :param config: more of Zoho's CONFIG keys (``selectedColumns``, ``criteria``, ``delimiter``...), sent as
        they are; templated. ``responseFormat`` and ``sqlQuery`` come from the arguments above.
    :param org_id: the ``ZANALYTICS-ORGID`` header; default the connection's ``analytics_org_id``.
    :param allow_truncated: a SQL export of exactly 800,000 rows only warns instead of failing.
    :param max_records: see ``ZohoExtractOperator``.
    :param max_download_bytes: see ``ZohoExtractOperator``.

    See ``ZohoExtractOperator`` for the connection, waiting, deadlines and what a retry does.
    """

    job_kind = ANALYTICS_EXPORT
    template_fields: Sequence[str] = ("destination", "workspace_id", "view_id", "sql_query", "config", "org_id")
    template_fields_renderers = {"sql_query": "sql", "config": "json"}

    def __init__(
        self,
        *,
        workspace_id: str,
        view_id: str | None = None,
        sql_query: str | None = None,
        response_format: str = "csv",
        config: dict[str, Any] | None = None,
        org_id: str | None = None,
        allow_truncated: bool = False,
        **kwargs: Any,
    ) -> None:
        """Keep the arguments and check those known at parse time; each is described in the class docstring.

        :raises ValueError: both or neither of ``view_id`` and ``sql_query``, a format Zoho's exports cannot be
            read back from, an id that is not digits.
        """
        self.workspace_id = workspace_id
        self.view_id = view_id
        self.sql_query = sql_query
        self.response_format = response_format
        self.config = config
        self.org_id = org_id
        self.allow_truncated = allow_truncated
        super().__init__(**kwargs)

    def argument_problems(self, *, rendered: bool) -> list[str]:
        """Return what is wrong with the workspace, the view or query, the format and ``config``.

        :param rendered: the templates are rendered.
        :return: one message per problem.
        """
        problems: list[str] = []
        # Which of the two is given is known at parse time, even when its value is a template.
        if (self.view_id in (None, "")) == (self.sql_query in (None, "")):
            problems.append("pass exactly one of view_id (a table or view) and sql_query")
        for name in ("workspace_id", "view_id", "org_id"):
            value = getattr(self, name)
            if value not in (None, "") and known(value, rendered) and not str(value).isdigit():
                problems.append(f"{name} must be Zoho's id (digits), got {str(value)[:100]!r}")
        if self.response_format not in RESPONSE_FORMATS:
            problems.append(
                f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got {self.response_format!r}"
            )
        if known(self.config, rendered) and self.config is not None:
            if not isinstance(self.config, dict):
                problems.append(f"config must be an object of Zoho's CONFIG keys, got {type(self.config).__name__}")
            elif clash := sorted({"responseFormat", "sqlQuery"} & set(self.config)):
                problems.append(f"config must not set {', '.join(clash)}: use response_format / sql_query")
        return problems

    @property
    def result_is_csv(self) -> bool:
        """Tell whether the export is a CSV whose rows can be counted: comma-separated, with its header.

        ``config``'s ``includeHeader: false`` or another ``delimiter`` is exported as asked and written as it
        is, without a row count (``records`` None).

        :return: True for ``response_format="csv"`` with Zoho's default header and delimiter.
        """
        config = self.config or {}
        return (
            self.response_format == "csv"
            and config.get("includeHeader", True) not in (False, "false")
            and str(config.get("delimiter", 0)) == "0"
        )

    def _org_id(self) -> str:
        org_id = self.org_id or self.hook.config.analytics_org_id
        if not org_id:
            raise AirflowFailException(
                f"{self.task_id}: no Analytics organization id: pass org_id or set the connection's "
                f"analytics_org_id extra (sent as the {ANALYTICS.headers['org']} header)"
            )
        return str(org_id)

    def link_parts(self) -> dict[str, Any]:
        """Return the workspace and the view (a SQL export links to the workspace).

        :return: the parts of the task's link in Zoho's UI.
        """
        return {"workspace_id": self.workspace_id, "view_id": self.view_id}

    def job_coordinates(self, job_id: str) -> dict[str, str | None]:
        """Return the coordinates a status poll of ``job_id`` needs: the workspace and the organization.

        :param job_id: the task's job id.
        :return: the coordinates of ``ANALYTICS_EXPORT``; ``org_id`` None leaves the connection's.
        """
        return {"workspace_id": str(self.workspace_id), "job_id": job_id, "org_id": self.org_id}

    def create_job(self, request: Mapping[str, Any]) -> str:
        """Create the export job; "five exports already running" (8132) is asked again until the deadline.

        :param request: unused: an export is one job.
        :return: the job's id.
        """
        export_config = {
            **(self.config or {}),
            "responseFormat": self.response_format,
            **({"sqlQuery": self.sql_query} if self.sql_query else {}),
        }
        http = analytics_export_request(
            self.hook.config,
            str(self.workspace_id),
            self._org_id(),
            export_config,
            view_id=str(self.view_id) if self.view_id else None,
        )
        answer = self.until_ready(
            lambda: self.hook.get_json(http, creates=True), _BUSY, f"{self.task_id}: creating the export"
        )
        return read_analytics_job_id(answer)

    def fetch_result(self, job: Mapping[str, Any], work: Path) -> Result:
        """Download the export: the body is the file. "Queued" and "running" (8121, 8122) are asked again.

        The documented path is used, whatever ``downloadUrl`` the status holds: the token goes nowhere else.

        :param job: the job's summary.
        :param work: where the file goes.
        :return: the file.
        """
        hook = self.hook
        path = ANALYTICS.path("export_data", workspace_id=str(self.workspace_id), job_id=str(job["job_id"]))
        url = hook.config.base_url(ANALYTICS.service) + path
        target = work / f"result.{self.response_format}"
        with target.open("w+b") as sink:

            def download() -> int:
                return hook.download(
                    url,
                    sink,
                    self.max_download_bytes,
                    self._seconds_left(),
                    dialect=ANALYTICS.dialect,
                    headers=ANALYTICS.header("org", self._org_id()),
                    service=ANALYTICS.service,
                )

            try:
                self.until_ready(download, _NOT_READY, f"{self.job_kind.label} {job['job_id']}: result")
            except ZohoError as error:
                if error.code == _GONE:
                    raise ResultGone(f"Zoho no longer has its result ({error.code})") from None
                raise
        return Result(target, zipped=False)

    def check_page(self, page: StagedPage, request: Mapping[str, Any]) -> None:
        """Fail on a SQL export of exactly 800,000 rows: Zoho cut it, while its job reported success.

        :param page: the staged export.
        :param request: unused.
        :raises AirflowFailException: unless ``allow_truncated``, which only warns.
        """
        asked_for_less = self.max_records is not None and self.max_records <= SQL_EXPORT_ROWS
        if not self.sql_query or page.rows != SQL_EXPORT_ROWS or asked_for_less:
            return
        message = (
            f"{self.task_id}: the SQL export has exactly {SQL_EXPORT_ROWS:,} rows, where Zoho cuts a SQL export "
            "(its job still reports success): rows are most likely missing"
        )
        if not self.allow_truncated:
            raise AirflowFailException(
                f"{message}; narrow the query (or page it with LIMIT/OFFSET), or pass allow_truncated=True"
            )
        self.log.warning("%s; allow_truncated=True: written as it is", message)
