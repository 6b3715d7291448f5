"""The trigger that polls a Zoho bulk job in the triggerer for the deferred sensors and operators."""

from airflow_provider_zoho.triggers.job import ZohoJobTrigger

__all__ = ["ZohoJobTrigger"]
