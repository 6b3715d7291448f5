"""The sensors for Zoho Bigin bulk write and bulk read jobs."""

from __future__ import annotations

from airflow_provider_zoho.jobs import BIGIN_BULK_READ, BIGIN_BULK_WRITE
from airflow_provider_zoho.sensors.crm import ZohoCRMBulkReadJobSensor, ZohoCRMBulkWriteJobSensor


class ZohoBiginBulkWriteJobSensor(ZohoCRMBulkWriteJobSensor):
    """Waits for a Zoho Bigin bulk write job (API v2); Bigin's bulk API is CRM's under another path.

    :param job_id: the id that Create Bulk Write Job returned.
    """

    job_kind = BIGIN_BULK_WRITE


class ZohoBiginBulkReadJobSensor(ZohoCRMBulkReadJobSensor):
    """Waits for a Zoho Bigin bulk read job (API v2); Bigin's bulk read API is CRM's under another path.

    :param job_id: the id that Create Bulk Read Job returned.
    """

    job_kind = BIGIN_BULK_READ
