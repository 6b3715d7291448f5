"""Sensors that wait for a Zoho bulk job created elsewhere, by poking or deferred to the triggerer."""

from airflow_provider_zoho.sensors.analytics import ZohoAnalyticsImportJobSensor
from airflow_provider_zoho.sensors.bigin import ZohoBiginBulkWriteJobSensor
from airflow_provider_zoho.sensors.creator import ZohoCreatorBulkInsertJobSensor
from airflow_provider_zoho.sensors.crm import ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.sensors.job import ZohoJobSensor

__all__ = [
    "ZohoAnalyticsImportJobSensor",
    "ZohoBiginBulkWriteJobSensor",
    "ZohoCRMBulkWriteJobSensor",
    "ZohoCreatorBulkInsertJobSensor",
    "ZohoJobSensor",
]
