from airflow_provider_zoho.operators.analytics import ZohoAnalyticsImportOperator
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.bulk_write import (
    ZohoBiginBulkWriteOperator,
    ZohoBulkWriteOperator,
    ZohoCRMBulkWriteOperator,
)

__all__ = [
    "ZohoAnalyticsImportOperator",
    "ZohoBiginBulkWriteOperator",
    "ZohoBulkWriteOperator",
    "ZohoCRMBulkWriteOperator",
    "ZohoJobOperator",
]
