from airflow_provider_zoho.triggers.job import ZohoJobTrigger

__all__ = ["ZohoJobTrigger"]
