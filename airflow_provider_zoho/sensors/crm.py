"""The sensors for Zoho CRM bulk write and bulk read jobs."""

from __future__ import annotations

from airflow_provider_zoho.jobs import CRM_BULK_READ, CRM_BULK_WRITE
from airflow_provider_zoho.sensors.job import ZohoJobSensor


class ZohoCRMBulkWriteJobSensor(ZohoJobSensor):
    """Waits for a Zoho CRM bulk write job (API v8): COMPLETED succeeds, FAILED on the job or any resource fails.

    :param job_id: the id that Create Bulk Write Job returned.
    """

    job_kind = CRM_BULK_WRITE


class ZohoCRMBulkReadJobSensor(ZohoJobSensor):
    """Waits for a Zoho CRM bulk read job (API v8): COMPLETED succeeds, FAILURE fails.

    The summary holds the page's record count (``counts.records``) and its ``download_url``, a path relative to
    the API host (``/crm/bulk/v8/read/{job_id}/result``); ``response.result`` says ``more_records``.

    :param job_id: the id that Create Bulk Read Job returned.
    """

    job_kind = CRM_BULK_READ
