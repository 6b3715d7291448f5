"""The sensors for Zoho Creator bulk insert and bulk read jobs."""

from __future__ import annotations

from airflow_provider_zoho.jobs import CREATOR_BULK_INSERT, CREATOR_BULK_READ
from airflow_provider_zoho.sensors.job import ZohoJobSensor


class ZohoCreatorBulkInsertJobSensor(ZohoJobSensor):
    """Waits for a Zoho Creator bulk insert job (API v2.1).

    Completed succeeds; Failed, Aborted, User Aborted, System Aborted and Expired fail.

    :param account_owner_name: the Creator account owner's user name.
    :param app_link_name: the application's link name.
    :param form_link_name: the form's link name.
    :param job_id: the bulk insert job's id.
    :param environment: ``development`` or ``stage``; defaults to the connection's ``creator_environment``
        (production when neither is set).
    """

    job_kind = CREATOR_BULK_INSERT


class ZohoCreatorBulkReadJobSensor(ZohoJobSensor):
    """Waits for a Zoho Creator bulk read job (API v2.1): Completed succeeds, Failed fails.

    The summary holds the batch's record count (``counts.records``) and its ``download_url``;
    ``response.details.result.record_cursor``, when there, asks for the next batch (valid 15 minutes).

    :param account_owner_name: the Creator account owner's user name.
    :param app_link_name: the application's link name.
    :param report_link_name: the report's link name.
    :param job_id: the bulk read job's id.
    :param environment: ``development`` or ``stage``; defaults to the connection's ``creator_environment``.
    """

    job_kind = CREATOR_BULK_READ
