"""Export a Zoho CRM or Bigin module with bulk read jobs, page after page, into one CSV at any ObjectStoragePath.

CRM v8 and Bigin v2 share one bulk read API under other paths, so one operator serves both: each subclass
names its product's record (``products.CRM``, ``products.BIGIN``) and its job kind. Facts:
``docs/zoho-api.md``, "Reading and exporting" (https://www.zoho.com/crm/developer/docs/api/v8/bulk-read/).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin

from airflow_provider_zoho.compat import AirflowFailException
from airflow_provider_zoho.exceptions import ZohoError
from airflow_provider_zoho.hooks.exchange import api_request, read_bulk_read_job_id
from airflow_provider_zoho.jobs import BIGIN_BULK_READ, CRM_BULK_READ
from airflow_provider_zoho.operators.extract import Result, ResultGone, ZohoExtractOperator, known
from airflow_provider_zoho.operators.extract_files import WATERMARK_COLUMN
from airflow_provider_zoho.products import BIGIN, CRM, ZohoProduct


def modified_since_text(value: Any) -> str:
    """Return a moment as Zoho's criteria take it, ISO 8601 with its offset (``2026-01-01T00:00:00+00:00``).

    A rendered ``{{ data_interval_start }}`` is text with a space where ISO has a ``T``; a moment without an
    offset is taken as UTC.

    :param value: a ``datetime`` or its text.
    :return: the moment's text.
    :raises ValueError: text that names no moment.
    """
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat(timespec="seconds")


class ZohoBulkReadOperator(ZohoExtractOperator):
    """Export a module's records, every page of up to 200,000, into one CSV at ``destination``.

    :param module: the module's API name (``Contacts``).
    :param destination: see ``ZohoExtractOperator``; templated.
    :param fields: the fields' API names (at most 1,000; lookups as ``Account_Name.Phone``); None: every field.
    :param criteria: Zoho's criteria object (``{"group_operator": "and", "group": [...]}`` or one
        ``{"field": {"api_name": ...}, "comparator": ..., "value": ...}``); templated.
    :param cvid: a custom view's id, whose records are exported.
    :param modified_since: a ``datetime`` or its text (a rendered ``{{ data_interval_start }}``): only records
        with ``Modified_Time`` at or after it (``greater_equal``), with ``criteria`` when both are given;
        templated. The summary's ``watermark`` is then the largest ``Modified_Time`` written.
    :param max_records: see ``ZohoExtractOperator``.
    :param max_download_bytes: see ``ZohoExtractOperator``.

    See ``ZohoExtractOperator`` for the connection, waiting, deadlines and what a retry does.
    """

    product: ClassVar[ZohoProduct]
    template_fields: Sequence[str] = ("destination", "module", "criteria", "modified_since", "fields", "cvid")
    template_fields_renderers = {"criteria": "json"}

    def __init__(
        self,
        *,
        module: str,
        fields: list[str] | None = None,
        criteria: dict[str, Any] | None = None,
        cvid: str | None = None,
        modified_since: dt.datetime | str | None = None,
        **kwargs: Any,
    ) -> None:
        """Keep the arguments and check those known at parse time; each is described in the class docstring.

        :raises ValueError: a wrong argument that is not a template (no module, more than 1,000 fields...).
        """
        self.module = module
        self.fields = fields
        self.criteria = criteria
        self.cvid = cvid
        self.modified_since = modified_since
        super().__init__(**kwargs)

    def argument_problems(self, *, rendered: bool) -> list[str]:
        """Return what is wrong with the module, fields, criteria, custom view and ``modified_since``.

        :param rendered: the templates are rendered.
        :return: one message per problem.
        """
        problems: list[str] = []
        if known(self.module, rendered) and (not isinstance(self.module, str) or not self.module.strip()):
            problems.append("module is required: pass the module's API name, e.g. 'Contacts'")
        most = self.product.limits["fields_per_read"]
        if known(self.fields, rendered) and self.fields is not None:
            if not isinstance(self.fields, list) or not all(isinstance(f, str) and f.strip() for f in self.fields):
                problems.append("fields must be a list of field API names, or None for every field")
            elif not self.fields:
                problems.append("fields is empty: name at least one field, or pass None for every field")
            elif len(self.fields) > most:
                problems.append(f"fields names {len(self.fields)} fields; a bulk read takes at most {most:,}")
        if known(self.criteria, rendered) and self.criteria is not None and not isinstance(self.criteria, dict):
            problems.append(
                'criteria must be Zoho\'s criteria object, e.g. {"field": {"api_name": "Lead_Source"}, '
                f'"comparator": "equal", "value": "Web"}}; got {type(self.criteria).__name__}'
            )
        if known(self.cvid, rendered) and self.cvid is not None and not str(self.cvid).isdigit():
            problems.append(f"cvid must be a custom view's id (digits), got {self.cvid!r}")
        if known(self.modified_since, rendered) and self.modified_since not in (None, ""):
            try:
                modified_since_text(self.modified_since)
            except ValueError:
                problems.append(
                    f"modified_since must be a datetime or its ISO 8601 text, got {str(self.modified_since)[:100]!r}"
                )
        return problems

    def link_parts(self) -> dict[str, Any]:
        """Return the connection's ``crm_org_id`` (no org lookup is spent on a link) and the module.

        :return: the parts of the task's link to the module in Zoho's UI.
        """
        return {"org_id": self.hook.config.crm_org_id, "module": self.module}

    def first_request(self) -> dict[str, Any]:
        """Return page 1's request.

        :return: ``{"page": 1}``.
        """
        return {"page": 1}

    def query(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Return the create's ``query`` for one page: the module, fields, custom view and criteria, and the page.

        :param request: the page (``{"page": n}`` or ``{"page_token": ...}``; never both, as Zoho asks).
        :return: the query.
        """
        # Zoho's CRM v8 pages take the module as an object; Bigin's samples show a plain string too (unverified
        # which Bigin's create accepts): the object, as its OpenAPI-documented sibling CRM takes it, is sent.
        query: dict[str, Any] = {"module": {"api_name": self.module}}
        if self.fields:
            query["fields"] = list(self.fields)
        if self.cvid:
            query["cvid"] = str(self.cvid)
        conditions = [self.criteria] if self.criteria else []
        if self.modified_since not in (None, ""):
            conditions.append(
                {
                    "field": {"api_name": WATERMARK_COLUMN},
                    "comparator": "greater_equal",
                    "value": modified_since_text(self.modified_since),
                }
            )
        if len(conditions) == 1:
            query["criteria"] = conditions[0]
        elif conditions:
            query["criteria"] = {"group_operator": "and", "group": conditions}
        return {**query, **request}

    def create_job(self, request: Mapping[str, Any]) -> str:
        """Create the bulk read job of one page.

        :param request: the page.
        :return: the job's id.
        """
        hook = self.hook
        body = {"query": self.query(request), "file_type": "csv"}
        answer = hook.send_json("POST", api_request(hook.config, self.product.paths["bulk_read"]), body, creates=True)
        return read_bulk_read_job_id(answer)

    def fetch_result(self, job: Mapping[str, Any], work: Path) -> Result:
        """Download a completed job's zip from its ``download_url``, a path relative to the API host.

        The link comes from Zoho's answer: the token goes with it only to the connection's Zoho hosts.

        :param job: the job's summary.
        :param work: where the zip goes.
        :return: the zip.
        :raises ~airflow_provider_zoho.operators.extract.ResultGone: Zoho answered 404 (the result is no longer kept).
        """
        # Unverified: how long Zoho keeps a bulk read's result; a 404 on the download means it is gone.
        hook = self.hook
        result = _result(job)
        link = result.get("download_url")
        if not isinstance(link, str) or not link:
            # Built from the documented path when the answer has none.
            link = self.product.path("bulk_read_result", job_id=job["job_id"])
        url = urljoin(hook.config.base_url(self.product.service) + "/", link)
        if not hook.may_send_token_to(url):
            raise AirflowFailException(
                f"{self.task_id}: {self.job_kind.label} {job['job_id']}: its download_url {url.split('?')[0][:200]!r} "
                "is not a Zoho host of the connection's data center (or its host override): the access token does "
                "not go there"
            )
        target = work / "result.zip"
        with target.open("w+b") as sink:
            try:
                hook.download(url, sink, self.max_download_bytes, self._seconds_left(), expect_zip=True)
            except ZohoError as error:
                if error.http_status == 404:
                    raise ResultGone(f"Zoho no longer has its result ({error.code})") from None
                raise
        return Result(target, zipped=True)

    def request_expired(self, error: ZohoError, request: Mapping[str, Any]) -> bool:
        """Tell whether Zoho refused a ``page_token``, which it keeps a limited time (unverified how long).

        :param error: Zoho's refusal.
        :param request: the page's request.
        :return: True for a refused token (``INVALID_DATA``, unverified: Zoho documents no code for it).
        """
        return "page_token" in request and error.code == "INVALID_DATA"

    def next_request(self, job: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return the next page's request while the result says ``more_records``.

        ``next_page_token`` when Zoho gave one (the page number is then not sent), else ``page`` + 1.

        :param job: the finished job's summary.
        :return: the request, or None after the last page.
        """
        result = _result(job)
        if result.get("more_records") not in (True, "true"):
            return None
        token = result.get("next_page_token")
        if isinstance(token, str) and token:
            return {"page_token": token}
        page = result.get("page")
        if isinstance(page, int) and not isinstance(page, bool):
            return {"page": page + 1}
        raise AirflowFailException(
            f"{self.task_id}: {self.job_kind.label} {job['job_id']} says more_records but gives neither "
            "next_page_token nor page: the next page cannot be asked for"
        )


def _result(job: Mapping[str, Any]) -> Mapping[str, Any]:
    response = job.get("response")
    result = response.get("result") if isinstance(response, dict) else None
    return result if isinstance(result, dict) else {}


class ZohoCRMBulkReadOperator(ZohoBulkReadOperator):
    """Export a Zoho CRM module (bulk read API v8) into one CSV; see ``ZohoBulkReadOperator``."""

    product = CRM
    job_kind = CRM_BULK_READ


class ZohoBiginBulkReadOperator(ZohoBulkReadOperator):
    """Export a Zoho Bigin module (bulk read API v2) into one CSV; see ``ZohoBulkReadOperator``."""

    product = BIGIN
    job_kind = BIGIN_BULK_READ
