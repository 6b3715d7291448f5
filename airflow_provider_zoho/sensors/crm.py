"""The sensor for Zoho CRM bulk write jobs."""

from __future__ import annotations

from airflow_provider_zoho.jobs import CRM_BULK_WRITE
from airflow_provider_zoho.sensors.job import ZohoJobSensor


class ZohoCRMBulkWriteJobSensor(ZohoJobSensor):
    """Waits for a Zoho CRM bulk write job (API v8): COMPLETED succeeds, FAILED on the job or any resource fails.

    :param job_id: the id that Create Bulk Write Job returned.
    """

    job_kind = CRM_BULK_WRITE
