"""OpenLineage for every load and export: the file on one side, the Zoho module, table or report on the other.

The OpenLineage spec names no Zoho scheme, so this provider defines one (documented in ``docs/guides/lineage.md``):

========================  ===============================  ======================================
Zoho side                 namespace                        name
========================  ===============================  ======================================
CRM module                ``zohocrm://{api host}``         ``{org id}.{module}`` (``{module}`` without an org id)
Bigin module              ``zohobigin://{api host}``       ``{org id}.{module}`` (likewise)
Analytics table or view   ``zohoanalytics://{host}``       ``{workspace id}.{view id}`` (``{workspace id}`` for SQL)
Creator form or report    ``zohocreator://{api host}``     ``{owner}.{app}.{form or report}``
========================  ===============================  ======================================

The file side uses the spec's own schemes: ``file`` and the path for a local file, ``s3://{bucket}`` and
the key, ``gs://{bucket}``... for an ObjectStoragePath URI. OpenLineage is imported only when Airflow asks for
lineage, so the provider works without ``apache-airflow-providers-openlineage``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.data_centers import Service


@dataclass(frozen=True)
class LineageDataset:
    """One side of a task's lineage, before it becomes an OpenLineage dataset.

    :param namespace: where it lives (``zohocrm://www.zohoapis.eu``, ``s3://lake``, ``file``).
    :param name: what it is there (``6196138.Contacts``, ``zoho/contacts.csv``).
    :param rows: the rows the task wrote to it, for the output statistics facet; None: not known.
    :param size: its bytes, when the task wrote it.
    :param columns: its columns, for the schema facet.
    """

    namespace: str
    name: str
    rows: int | None = None
    size: int | None = None
    columns: Sequence[str] = ()


# The scheme of each product's side and the parts its name is made of, by the kind's product prefix.
_ZOHO_SIDES: Mapping[str, tuple[str, Service, tuple[tuple[str, ...], ...]]] = {
    "crm": ("zohocrm", Service.API, (("org_id", "module"), ("module",))),
    "bigin": ("zohobigin", Service.API, (("org_id", "module"), ("module",))),
    "analytics": ("zohoanalytics", Service.ANALYTICS, (("workspace_id", "view_id"), ("workspace_id",))),
    "creator": (
        "zohocreator",
        Service.API,
        (
            ("account_owner_name", "app_link_name", "form_link_name"),
            ("account_owner_name", "app_link_name", "report_link_name"),
        ),
    ),
}


def zoho_dataset(kind: str, config: ZohoConnectionConfig, parts: Mapping[str, Any]) -> LineageDataset | None:
    """Return the Zoho side of a task's lineage, named as the module's docstring says, or None when unknown.

    :param kind: the job kind's name (its product is the part before the first ``_``).
    :param config: the connection (its data center's host, or its host override).
    :param parts: what the task knows (``org_id``, ``module``, ``workspace_id``, link names...).
    :return: the dataset, or None for a kind of a user's own or missing parts.
    """
    side = _ZOHO_SIDES.get(kind.split("_", 1)[0])
    if side is None:
        return None
    scheme, service, names = side
    try:
        host = urlsplit(config.base_url(service)).netloc
    except ValueError:  # a data center without that product's host, and no override
        return None
    for needed in names:
        values = [parts.get(name) for name in needed]
        if all(value not in (None, "") for value in values):
            return LineageDataset(f"{scheme}://{host}", ".".join(str(value) for value in values))
    return None


def file_dataset(location: str) -> LineageDataset:
    """Return the file side of a task's lineage with the spec's scheme: ``file`` for a local path, else the URI's.

    :param location: a local path or an ObjectStoragePath URI.
    :return: the dataset.
    """
    if "://" not in location:
        return LineageDataset("file", os.path.abspath(location))
    parts = urlsplit(location)
    if parts.scheme == "file":
        return LineageDataset("file", parts.path)
    return LineageDataset(f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/"))


def operator_lineage(inputs: Sequence[LineageDataset | None], outputs: Sequence[LineageDataset | None]) -> Any:
    """Return the ``OperatorLineage`` Airflow's OpenLineage listener sends, OpenLineage imported only now.

    :param inputs: what the task read (None entries are left out).
    :param outputs: what it wrote, with the rows, bytes and columns it wrote when known.
    :return: an ``airflow.providers.openlineage.extractors.OperatorLineage``.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    def facets(dataset: LineageDataset) -> dict[str, Any]:
        return (
            {"schema": SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=c) for c in dataset.columns])}
            if dataset.columns
            else {}
        )

    def output(dataset: LineageDataset) -> Any:
        statistics: dict[str, Any] = (
            {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=dataset.rows, size=dataset.size)}
            if dataset.rows is not None or dataset.size is not None
            else {}
        )
        return OutputDataset(
            namespace=dataset.namespace, name=dataset.name, facets=facets(dataset), outputFacets=statistics
        )

    return OperatorLineage(
        inputs=[Dataset(namespace=d.namespace, name=d.name, facets=facets(d)) for d in inputs if d is not None],
        outputs=[output(d) for d in outputs if d is not None],
    )
