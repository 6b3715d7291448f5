"""The built-in job kinds, as data read from each product's record, and how a trigger finds a kind by name.

Adding a kind is one ``JobKind(...)`` entry, in this module or in any module a triggerer can import.
"""

from __future__ import annotations

import functools
import pkgutil
import sys
from collections.abc import Mapping
from dataclasses import replace

from airflow_provider_zoho.jobs.kind import JobKind, states
from airflow_provider_zoho.products import ANALYTICS, BIGIN, CREATOR, CRM

ANALYTICS_IMPORT = JobKind(
    name="analytics_import",
    label="Zoho Analytics import job",
    service=ANALYTICS.service,
    dialect=ANALYTICS.dialect,
    path=ANALYTICS.paths["import_job"],
    path_coordinates=("workspace_id", "job_id"),
    numeric_coordinates=("workspace_id", "job_id"),
    headers={ANALYTICS.headers["org"]: "org_id"},
    state_fields=("data.jobCode",),
    succeeded=states("1004"),
    failed=states("1003", "1005"),
    pending=states("1001", "1002"),
    counts={
        "total_rows": "data.jobInfo.importSummary.totalRowCount",
        "success_rows": "data.jobInfo.importSummary.successRowCount",
        "warnings": "data.jobInfo.importSummary.warnings",
    },
    response_field="data",
    landed_counts=("success_rows",),
    total_count="total_rows",
    failure_code_field="data.jobInfo.errorCode",
    failure_message_field="data.jobInfo.errorMessage",
    state_notes={
        "1003": "the import hit an error",
        "1005": "job not found, or its summary expired (Zoho keeps it one hour after the job ends)",
    },
)

CRM_BULK_WRITE = JobKind(
    name="crm_bulk_write",
    label="Zoho CRM bulk write job",
    service=CRM.service,
    dialect=CRM.dialect,
    path=CRM.paths["bulk_write_job"],
    path_coordinates=("job_id",),
    # Zoho marks failure per resource and per file, not always on the job itself.
    state_fields=("status", "resource[].status", "resource[].file.status"),
    succeeded=states("COMPLETED"),
    failed=states("FAILED"),
    pending=states("ADDED", "IN PROGRESS"),
    counts={
        "added": "resource[].file.added_count",
        "updated": "resource[].file.updated_count",
        "skipped": "resource[].file.skipped_count",
        "total": "resource[].file.total_count",
    },
    landed_counts=("added", "updated"),
    total_count="total",
)

# Bigin's bulk write API is CRM's, served under another path.
BIGIN_BULK_WRITE = replace(
    CRM_BULK_WRITE, name="bigin_bulk_write", label="Zoho Bigin bulk write job", path=BIGIN.paths["bulk_write_job"]
)

CREATOR_BULK_INSERT = JobKind(
    name="creator_bulk_insert",
    label="Zoho Creator bulk insert job",
    service=CREATOR.service,
    dialect=CREATOR.dialect,
    path=CREATOR.paths["bulk_insert_job"],
    path_coordinates=("account_owner_name", "app_link_name", "form_link_name", "job_id"),
    headers={CREATOR.headers["environment"]: "environment"},
    choices=CREATOR.choices,
    state_fields=("data.api_status",),
    succeeded=states("Completed"),
    failed=states("Failed", "Aborted", "User Aborted", "System Aborted", "Expired"),
    pending=states("Ready-to-upload", "In-progress"),
    counts={
        "total": "data.record_details.total_records",
        "success": "data.record_details.success_records",
        "failed": "data.record_details.failed_records",
        "unprocessed": "data.record_details.unprocessed_records",
    },
    landed_counts=("success",),
    total_count="total",
    # Zoho's Creator OpenAPI file puts record_details beside data, its docs inside it (docs/zoho-api.md,
    # "Job status lifecycles").
    count_fallbacks={
        "total": "record_details.total_records",
        "success": "record_details.success_records",
        "failed": "record_details.failed_records",
        "unprocessed": "record_details.unprocessed_records",
    },
    response_field="data",
    state_notes={
        "SYSTEMABORTED": "Zoho aborted the job: more than 5% of its batches failed",
        "EXPIRED": "the job was not started within 3 hours of its creation",
    },
)

# -- the read side: the jobs an export waits for ------------------------------------------------------------

CRM_BULK_READ = JobKind(
    name="crm_bulk_read",
    label="Zoho CRM bulk read job",
    service=CRM.service,
    dialect=CRM.dialect,
    path=CRM.paths["bulk_read_job"],
    path_coordinates=("job_id",),
    state_fields=("data[].state",),
    succeeded=states("COMPLETED"),
    # FAILURE is the state of Zoho's get-job-details page, FAILED the SDK's spelling: both fail.
    failed=states("FAILURE", "FAILED"),
    pending=states("ADDED", "QUEUED", "IN PROGRESS"),
    counts={"records": "data[].result.count"},
    # The job itself: its result (page, count, download_url, more_records, next_page_token) is read from it.
    response_field="data[]",
    # A path relative to the API host, unlike bulk write's absolute link.
    result_link_field="data[].result.download_url",
)

BIGIN_BULK_READ = replace(
    CRM_BULK_READ, name="bigin_bulk_read", label="Zoho Bigin bulk read job", path=BIGIN.paths["bulk_read_job"]
)

ANALYTICS_EXPORT = JobKind(
    name="analytics_export",
    label="Zoho Analytics export job",
    service=ANALYTICS.service,
    dialect=ANALYTICS.dialect,
    path=ANALYTICS.paths["export_job"],
    path_coordinates=("workspace_id", "job_id"),
    numeric_coordinates=("workspace_id", "job_id"),
    headers={ANALYTICS.headers["org"]: "org_id"},
    # jobCode is text ("1004"), as for imports.
    state_fields=("data.jobCode",),
    succeeded=states("1004"),
    failed=states("1003", "1005"),
    pending=states("1001", "1002"),
    counts={},
    response_field="data",
    result_link_field="data.downloadUrl",
    state_notes={
        "1003": "the export hit an error",
        "1005": "job not found, or its result expired",
    },
)

CREATOR_BULK_READ = JobKind(
    name="creator_bulk_read",
    label="Zoho Creator bulk read job",
    service=CREATOR.service,
    dialect=CREATOR.dialect,
    path=CREATOR.paths["bulk_read_job"],
    path_coordinates=("account_owner_name", "app_link_name", "report_link_name", "job_id"),
    headers={CREATOR.headers["environment"]: "environment"},
    choices=CREATOR.choices,
    # Unverified: Zoho's bulk read pages show the job under ``details``; community code reads it at the top.
    state_fields=("details.status",),
    state_fallbacks=("status",),
    succeeded=states("Completed"),
    failed=states("Failed"),
    pending=states("In-progress", "Queued"),
    counts={"records": "details.result.count"},
    count_fallbacks={"records": "result.count"},
    result_link_field="details.result.download_url",
)

JOB_KINDS: Mapping[str, JobKind] = {
    kind.name: kind
    for kind in (
        ANALYTICS_IMPORT,
        CRM_BULK_WRITE,
        BIGIN_BULK_WRITE,
        CREATOR_BULK_INSERT,
        CRM_BULK_READ,
        BIGIN_BULK_READ,
        ANALYTICS_EXPORT,
        CREATOR_BULK_READ,
    )
}


def get_job_kind(reference: str) -> JobKind:
    """Return the kind a trigger names: a built-in kind's name, or ``"module:attribute"`` for any importable kind.

    Trigger rows written before kinds could be imported hold the bare built-in names; they still work.

    :param reference: the name, as ``ZohoJobTrigger`` stores it.
    :return: the kind.
    :raises ValueError: an unknown name, a reference that cannot be imported, or one naming no ``JobKind``.
    """
    if ":" not in reference:
        try:
            return JOB_KINDS[reference]
        except KeyError:
            raise ValueError(
                f"Unknown Zoho job kind {reference!r}: use one of {', '.join(JOB_KINDS)}, "
                "or 'module:attribute' naming a JobKind of your own."
            ) from None
    try:
        found = pkgutil.resolve_name(reference)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError(f"Zoho job kind: cannot import {reference!r} ({type(error).__name__}: {error}).") from None
    if not isinstance(found, JobKind):
        what = "a class" if isinstance(found, type) else f"a {type(found).__name__}"
        raise ValueError(f"Zoho job kind {reference!r} names {what}, not a JobKind.")
    return found


@functools.cache  # asked once per module, not for every sensor of every DAG parse
def importable_elsewhere(module_name: str) -> bool:
    """Tell whether another process, such as a triggerer, could import the module by this name.

    Asks the import system's finders rather than ``sys.modules``: Airflow loads a DAG file under a made-up
    module name that is in this process's ``sys.modules`` and nowhere else.

    :param module_name: the module's dotted name.
    :return: True when a finder locates it.
    """
    parent = sys.modules.get(module_name.rpartition(".")[0]) if "." in module_name else None
    path = getattr(parent, "__path__", None)
    return any(
        finder.find_spec(module_name, path) is not None
        for finder in sys.meta_path
        if callable(getattr(finder, "find_spec", None))
    )
