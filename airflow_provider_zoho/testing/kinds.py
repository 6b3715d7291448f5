"""Per-kind test facts: one row per job kind, the single table tests and the benchmark read about kinds.

A test that runs "for every kind" needs to know, per kind, what to send (sample coordinates, the sensor
class, which states to script) and what Zoho answers (where the state and an error code are in a body,
which code a bad token or a 429 gets...).  Those facts used to be copied into a dozen hand-kept tables,
so a new kind could join the package with no test at all.  Now a kind needs one :class:`KindFacts` row
here, and ``tests/testing/test_kind_facts.py`` fails until every kind in ``airflow_provider_zoho.jobs.JOB_KINDS``
has a row and an emulated product.

The Zoho facts are written from ``docs/zoho-api.md`` and the Zoho pages it cites, not derived from the emulator's
product table (:mod:`airflow_provider_zoho.testing.dialects`) nor from the provider's ``JobKind``: the
emulator's tests compare the emulator with these rows, and the provider's tests compare the provider with
the emulator, so a slip in any one of the three shows up.

Importable without airflow (the sensor is named by its import path), so the benchmark can use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, EmulatedProduct

__all__ = ["KIND_FACTS", "KindFacts", "at"]

Code = str | int


def at(document: Any, path: str) -> Any:
    """Return the value at a dotted path in a decoded JSON document.

    :param document: the document.
    :param path: keys joined by dots (``"data.jobCode"``, ``"resource.0.file"``); digits index a list.
    :return: the value there.
    :raises KeyError: a key is missing (``IndexError`` for an index out of range).
    """
    for step in path.split("."):
        document = document[int(step)] if isinstance(document, list) else document[step]
    return document


@dataclass(frozen=True, slots=True)
class KindFacts:
    """What tests need to know about one job kind, named by the provider's kind name."""

    kind: str
    #: import path of the kind's sensor class (a string: importing it needs airflow).
    sensor: str
    #: sample values of the coordinates a test gives (``job_id`` excluded, it is per job).
    coordinates: Mapping[str, str]
    #: a state to script while the job runs, one it succeeds with and one it fails with, as Zoho spells them.
    pending: str
    succeeded: str
    failed: str
    #: every state the product reports, as Zoho spells it.
    states: tuple[str, ...]
    #: the status GET's path, formatted with ``job_id`` and the path coordinates.
    path: str
    #: dotted paths, in a status body, of the job's state and of the count fields of a finished job.
    state_field: str
    counts_field: str
    count_names: frozenset[str]
    #: dotted paths, in an error body, of Zoho's error code and message.
    error_code_field: str
    error_message_field: str
    #: (HTTP status, code) of a missing, bad or revoked access token.
    invalid_token: tuple[int, Code]
    rate_limit_code: Code
    #: the code of Zoho's JSON body for a 5xx.
    server_error_code: Code
    #: a documented error code meaning "no such thing here" (the benchmark's HTTP variant answers it).
    not_found_code: Code
    #: what the product answers once a job's summary has expired: a state (Analytics) or an error code.
    expired: Code
    #: a code in no documented table, to check that the HTTP status decides.
    unknown_code: Code
    #: a well-formed HTTP-200 status body that holds no state.
    missing_fields_body: Mapping[str, Any]
    #: request header -> the coordinate whose value it carries.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: coordinates the kind accepts that the samples leave unset.
    unset_coordinates: tuple[str, ...] = ()
    #: the key of the object a status body nests its payload in (None: the body itself).
    payload_key: str | None = None

    @property
    def product(self) -> EmulatedProduct:
        """The emulator's model of this kind."""
        return EMULATED_PRODUCTS[self.kind]

    @property
    def all_coordinates(self) -> dict[str, str | None]:
        """The sample coordinates plus the unset ones as None (what a trigger serializes)."""
        return {**self.coordinates, **dict.fromkeys(self.unset_coordinates)}

    def status_path(self, job_id: str, coordinates: Mapping[str, str] | None = None) -> str:
        """Return the status GET's path for ``job_id``.

        :param job_id: the job's id.
        :param coordinates: the path coordinates; default the sample ones.
        :return: the path.
        """
        return self.path.format(job_id=job_id, **(self.coordinates if coordinates is None else coordinates))

    def request_headers(self, coordinates: Mapping[str, str | None] | None = None) -> dict[str, str]:
        """Return the coordinate headers a status GET carries (Analytics' org id, Creator's environment).

        :param coordinates: the coordinates; default the sample ones.
        :return: the headers, leaving out those whose coordinate is unset.
        """
        given = self.coordinates if coordinates is None else coordinates
        return {header: value for header, name in self.headers.items() if (value := given.get(name))}

    def state_of(self, body: Any) -> Any:
        """Return the job state a status body reports.

        :param body: the decoded status body.
        :return: the state, as the body spells it.
        """
        return at(body, self.state_field)

    def error_code_of(self, body: Any) -> Any:
        """Return the error code an error body carries.

        :param body: the decoded error body.
        :return: the code, in the product's type.
        """
        return at(body, self.error_code_field)

    def error_message_of(self, body: Any) -> Any:
        """Return the message an error body carries.

        :param body: the decoded error body.
        :return: the message.
        """
        return at(body, self.error_message_field)

    def payload_of(self, body: Any) -> Any:
        """Return the part of a status body a client returns as the job's response.

        :param body: the decoded status body.
        :return: the payload object, or the whole body for a product without one.
        """
        return body if self.payload_key is None else body[self.payload_key]


_BULK_WRITE_STATES = ("ADDED", "IN PROGRESS", "COMPLETED", "FAILED")
_BULK_WRITE_COUNTS = frozenset({"added_count", "skipped_count", "updated_count", "total_count"})


def _bulk_write(kind: str, sensor: str, path: str) -> KindFacts:
    """CRM and Bigin: the same API under two paths."""
    return KindFacts(
        kind=kind,
        sensor=sensor,
        coordinates={},
        pending="IN PROGRESS",
        succeeded="COMPLETED",
        failed="FAILED",
        states=_BULK_WRITE_STATES,
        path=path,
        state_field="status",
        counts_field="resource.0.file",
        count_names=_BULK_WRITE_COUNTS,
        error_code_field="code",
        error_message_field="message",
        invalid_token=(401, "INVALID_TOKEN"),
        rate_limit_code="TOO_MANY_REQUESTS",
        server_error_code="INTERNAL_ERROR",
        not_found_code="RESOURCE_NOT_FOUND",
        expired="RESOURCE_NOT_FOUND",
        unknown_code="SOMETHING_NEW",
        missing_fields_body={},
    )


_ROWS: tuple[KindFacts, ...] = (
    KindFacts(
        kind="analytics_import",
        sensor="airflow_provider_zoho.sensors.ZohoAnalyticsImportJobSensor",
        coordinates={"workspace_id": "35130000001055707", "org_id": "55522777"},
        headers={"ZANALYTICS-ORGID": "org_id"},
        pending="1002",
        succeeded="1004",
        failed="1003",
        states=("1001", "1002", "1003", "1004", "1005"),
        path="/restapi/v2/bulk/workspaces/{workspace_id}/importjobs/{job_id}",
        state_field="data.jobCode",
        payload_key="data",
        counts_field="data.jobInfo.importSummary",
        count_names=frozenset({"totalRowCount", "successRowCount", "warnings"}),
        error_code_field="data.errorCode",
        error_message_field="data.errorMessage",
        invalid_token=(401, 8535),
        rate_limit_code=6045,
        server_error_code=7005,
        not_found_code=7103,
        expired="1005",
        unknown_code=9999,
        missing_fields_body={"status": "success", "summary": "Fetch import job info", "data": {}},
    ),
    _bulk_write(
        "crm_bulk_write", "airflow_provider_zoho.sensors.ZohoCRMBulkWriteJobSensor", "/crm/bulk/v8/write/{job_id}"
    ),
    _bulk_write(
        "bigin_bulk_write", "airflow_provider_zoho.sensors.ZohoBiginBulkWriteJobSensor", "/bigin/bulk/v2/write/{job_id}"
    ),
    KindFacts(
        kind="creator_bulk_insert",
        sensor="airflow_provider_zoho.sensors.ZohoCreatorBulkInsertJobSensor",
        coordinates={"account_owner_name": "jason18", "app_link_name": "zylker-store", "form_link_name": "Emp"},
        headers={"environment": "environment"},
        unset_coordinates=("environment",),
        pending="In-progress",
        succeeded="Completed",
        failed="Failed",
        states=(
            "Ready-to-upload",
            "In-progress",
            "Completed",
            "Failed",
            "Aborted",
            "User Aborted",
            "System Aborted",
            "Expired",
        ),
        path="/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/form/{form_link_name}/insert/{job_id}",
        state_field="data.api_status",
        payload_key="data",
        counts_field="data.record_details",
        count_names=frozenset({"total_records", "failed_records", "unprocessed_records", "success_records"}),
        error_code_field="code",
        error_message_field="message",
        invalid_token=(401, 1030),
        rate_limit_code=2955,
        server_error_code=2945,
        not_found_code=1000,
        expired=1000,
        unknown_code=9999,
        missing_fields_body={"code": 3000, "data": {}},
    ),
)

# The read side (docs/zoho-api.md, "Reading and exporting"): Analytics' export job and Creator's bulk read.
_ROWS += (
    KindFacts(
        kind="analytics_export",
        sensor="airflow_provider_zoho.sensors.ZohoAnalyticsExportJobSensor",
        coordinates={"workspace_id": "35130000001055707", "org_id": "55522777"},
        headers={"ZANALYTICS-ORGID": "org_id"},
        pending="1002",
        succeeded="1004",
        failed="1003",
        states=("1001", "1002", "1003", "1004", "1005"),
        path="/restapi/v2/bulk/workspaces/{workspace_id}/exportjobs/{job_id}",
        state_field="data.jobCode",
        payload_key="data",
        counts_field="data",
        count_names=frozenset(),
        error_code_field="data.errorCode",
        error_message_field="data.errorMessage",
        invalid_token=(401, 8535),
        rate_limit_code=6045,
        server_error_code=7005,
        not_found_code=7103,
        expired="1005",
        unknown_code=9999,
        missing_fields_body={"status": "success", "summary": "Fetch export job info", "data": {}},
    ),
    KindFacts(
        kind="creator_bulk_read",
        sensor="airflow_provider_zoho.sensors.ZohoCreatorBulkReadJobSensor",
        coordinates={
            "account_owner_name": "jason18",
            "app_link_name": "zylker-store",
            "report_link_name": "All_Orders",
        },
        headers={"environment": "environment"},
        unset_coordinates=("environment",),
        pending="In-progress",
        succeeded="Completed",
        failed="Failed",
        states=("In-progress", "Queued", "Completed", "Failed"),
        path="/creator/v2.1/bulk/{account_owner_name}/{app_link_name}/report/{report_link_name}/read/{job_id}",
        state_field="details.status",
        payload_key="details",
        counts_field="details.result",
        count_names=frozenset({"count"}),
        error_code_field="code",
        error_message_field="message",
        invalid_token=(401, 1030),
        rate_limit_code=2955,
        server_error_code=2945,
        not_found_code=1000,
        expired=1000,
        unknown_code=9999,
        missing_fields_body={"code": 3000, "details": {}},
    ),
)


def _bulk_read(kind: str, sensor: str, path: str) -> KindFacts:
    """Describe CRM v8 and Bigin v2 bulk read: the same API under two paths.

    get-job-details.html: the state is ``data[0].state``, the ``result`` counts come only once COMPLETED; FAILURE
    is the page's failed state, FAILED the CRM SDK 8.0's spelling.
    """
    return KindFacts(
        kind=kind,
        sensor=sensor,
        coordinates={},
        pending="IN PROGRESS",
        succeeded="COMPLETED",
        failed="FAILURE",
        states=("ADDED", "QUEUED", "IN PROGRESS", "COMPLETED", "FAILURE", "FAILED"),
        path=path,
        state_field="data.0.state",
        counts_field="data.0.result",
        count_names=frozenset({"count"}),
        error_code_field="code",
        error_message_field="message",
        invalid_token=(401, "INVALID_TOKEN"),
        rate_limit_code="TOO_MANY_REQUESTS",
        server_error_code="INTERNAL_ERROR",
        not_found_code="RESOURCE_NOT_FOUND",
        expired="RESOURCE_NOT_FOUND",
        unknown_code="SOMETHING_NEW",
        missing_fields_body={"data": [{}], "info": {}},
    )


_ROWS += (
    _bulk_read("crm_bulk_read", "airflow_provider_zoho.sensors.ZohoCRMBulkReadJobSensor", "/crm/bulk/v8/read/{job_id}"),
    _bulk_read(
        "bigin_bulk_read", "airflow_provider_zoho.sensors.ZohoBiginBulkReadJobSensor", "/bigin/bulk/v2/read/{job_id}"
    ),
)

#: kind name -> its test facts.
KIND_FACTS: Mapping[str, KindFacts] = {row.kind: row for row in _ROWS}
