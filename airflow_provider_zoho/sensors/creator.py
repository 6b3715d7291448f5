"""The sensor for Zoho Creator bulk insert jobs."""

from __future__ import annotations

from airflow_provider_zoho.jobs import CREATOR_BULK_INSERT
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
