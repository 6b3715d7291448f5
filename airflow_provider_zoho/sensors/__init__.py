"""Sensors that wait for a Zoho bulk job created elsewhere, by poking or deferred to the triggerer."""

from airflow_provider_zoho.sensors.analytics import ZohoAnalyticsExportJobSensor, ZohoAnalyticsImportJobSensor
from airflow_provider_zoho.sensors.bigin import ZohoBiginBulkReadJobSensor, ZohoBiginBulkWriteJobSensor
from airflow_provider_zoho.sensors.creator import ZohoCreatorBulkInsertJobSensor, ZohoCreatorBulkReadJobSensor
from airflow_provider_zoho.sensors.crm import ZohoCRMBulkReadJobSensor, ZohoCRMBulkWriteJobSensor
from airflow_provider_zoho.sensors.job import ZohoJobSensor

__all__ = [
    "ZohoAnalyticsExportJobSensor",
    "ZohoAnalyticsImportJobSensor",
    "ZohoBiginBulkReadJobSensor",
    "ZohoBiginBulkWriteJobSensor",
    "ZohoCRMBulkReadJobSensor",
    "ZohoCRMBulkWriteJobSensor",
    "ZohoCreatorBulkInsertJobSensor",
    "ZohoCreatorBulkReadJobSensor",
    "ZohoJobSensor",
]
