"""The sensors for Zoho Analytics bulk import and export jobs."""

from __future__ import annotations

from airflow_provider_zoho.jobs import ANALYTICS_EXPORT, ANALYTICS_IMPORT
from airflow_provider_zoho.sensors.job import ZohoJobSensor


class ZohoAnalyticsImportJobSensor(ZohoJobSensor):
    """Waits for a Zoho Analytics asynchronous import job (jobCode 1004 succeeds; 1003 and 1005 fail).

    :param workspace_id: the workspace the import runs in.
    :param job_id: the ``jobId`` that Create Import Job returned.
    :param org_id: the ``ZANALYTICS-ORGID`` header; defaults to the connection's ``analytics_org_id``.

    Zoho keeps a job's summary for one hour after it ends (then answers 1005), so keep ``timeout`` and
    ``poke_interval`` such that the sensor looks within that hour.
    """

    job_kind = ANALYTICS_IMPORT


class ZohoAnalyticsExportJobSensor(ZohoJobSensor):
    """Waits for a Zoho Analytics asynchronous export job (jobCode 1004 succeeds; 1003 and 1005 fail).

    The summary's ``download_url`` is Zoho's ``downloadUrl``, the file itself (kept a limited time:
    ``response.expiryTime``).

    :param workspace_id: the workspace the export runs in.
    :param job_id: the ``jobId`` that Create Export Job returned.
    :param org_id: the ``ZANALYTICS-ORGID`` header; defaults to the connection's ``analytics_org_id``.
    """

    job_kind = ANALYTICS_EXPORT
