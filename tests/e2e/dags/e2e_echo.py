"""Sensors polling an endpoint that echoes the request, for the end-to-end secrets test.

Every path a Zoho answer can take out of the provider is here: a deferrable sensor resumed on a worker
(``wait_deferred``, and ``wait_failed`` whose job fails), one ended by the trigger (``wait_ended_by_trigger``)
and one in poke mode (``wait_poking``). The test scripts each job's answers to echo the request headers,
which carry the access token, and then looks for the connection's secrets everywhere Airflow keeps text.
Two loads reach answers the operators must not trust: a Creator failure result that echoes the request
(``load_creator_echo``, which fails, its exception also seen by ``on_failure_callback``) and a CRM result link
whose backslash makes ``requests`` connect to another host than the one it names (``load_crm_backslash``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.providers.common.compat.sdk import dag

from airflow_provider_zoho.operators import ZohoCreatorBulkInsertOperator, ZohoCRMBulkWriteOperator
from airflow_provider_zoho.sensors import ZohoCRMBulkWriteJobSensor

COMMON: dict[str, Any] = {"poll_interval": 2, "poke_interval": 2, "timeout": timedelta(minutes=5)}
FAILURE_CALLBACK_MARK = "on_failure_callback saw:"


def report_failure(context: Any) -> None:
    """What a user's callback does with the failure: log the exception's text (searched for secrets)."""
    logging.getLogger("e2e_echo").error("%s %s", FAILURE_CALLBACK_MARK, context.get("exception"))


@dag(dag_id="e2e_echo", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def e2e_echo() -> None:
    conf = "{{{{ dag_run.conf['{}'] }}}}"
    ZohoCRMBulkWriteJobSensor(task_id="wait_deferred", job_id=conf.format("deferred"), deferrable=True, **COMMON)
    ZohoCRMBulkWriteJobSensor(task_id="wait_failed", job_id=conf.format("failed"), deferrable=True, **COMMON)
    ZohoCRMBulkWriteJobSensor(
        task_id="wait_ended_by_trigger",
        job_id=conf.format("ended_by_trigger"),
        deferrable=True,
        end_from_trigger=True,
        **COMMON,
    )
    ZohoCRMBulkWriteJobSensor(task_id="wait_poking", job_id=conf.format("poking"), deferrable=False, **COMMON)
    ZohoCreatorBulkInsertOperator(
        task_id="load_creator_echo",
        account_owner_name="jason18",
        app_link_name="zylker-store",
        form_link_name="Employee_Details",
        file=conf.format("creator_file"),
        max_failed_records=None,
        poll_interval=2,
        on_failure_callback=report_failure,
    )
    ZohoCRMBulkWriteOperator(
        task_id="load_crm_backslash",
        module="Contacts",
        file=conf.format("crm_file"),
        max_failed_records=None,
        poll_interval=2,
        # Waits on its worker: Airflow 3.3.2 can fail a deferred task whose trigger fires within seconds of
        # the deferral (see test_scheduler_triggerer.DEFERRED_SECONDS), and this job ends at once.
        deferrable=False,
    )


e2e_echo()
