"""Operators that load a CSV into Zoho CRM, Bigin, Analytics or Creator with bulk jobs, and wait for them."""

from airflow_provider_zoho.operators.analytics import ZohoAnalyticsImportOperator
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.bulk_write import (
    ZohoBiginBulkWriteOperator,
    ZohoBulkWriteOperator,
    ZohoCRMBulkWriteOperator,
)
from airflow_provider_zoho.operators.creator import ZohoCreatorBulkInsertOperator

__all__ = [
    "ZohoAnalyticsImportOperator",
    "ZohoBiginBulkWriteOperator",
    "ZohoBulkWriteOperator",
    "ZohoCRMBulkWriteOperator",
    "ZohoCreatorBulkInsertOperator",
    "ZohoJobOperator",
]
