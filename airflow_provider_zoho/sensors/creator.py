from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_zoho.jobs import CREATOR_BULK_INSERT
from airflow_provider_zoho.sensors.job import ZohoJobSensor


class ZohoCreatorBulkInsertJobSensor(ZohoJobSensor):
    """Waits for a Zoho Creator bulk insert job: Completed succeeds; Failed, Aborted, User Aborted,
    System Aborted and Expired fail.

    :param account_owner_name: the Creator account owner's user name.
    :param app_link_name: the application's link name.
    :param form_link_name: the form's link name.
    :param job_id: the bulk insert job's id.
    :param environment: ``development`` or ``stage``; defaults to the connection's ``creator_environment``
        (production when neither is set).
    """

    job_kind = CREATOR_BULK_INSERT
    template_fields: Sequence[str] = ("account_owner_name", "app_link_name", "form_link_name", "job_id", "environment")

    def __init__(
        self,
        *,
        account_owner_name: str,
        app_link_name: str,
        form_link_name: str,
        job_id: str,
        environment: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            coordinates={
                "account_owner_name": account_owner_name,
                "app_link_name": app_link_name,
                "form_link_name": form_link_name,
                "job_id": job_id,
                "environment": environment,
            },
            **kwargs,
        )
