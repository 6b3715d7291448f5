from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.hooks.zoho_async import ZohoAsyncHook

__all__ = ["ZohoAsyncHook", "ZohoHook"]
