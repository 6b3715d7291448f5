"""Zoho's own clients against the emulator: what Zoho's code sends must be answered, and what it reads must parse.

- Zoho's CRM SDK (PyPI ``zohocrmsdk8-0`` 7.0.0, package ``zohocrmsdk``) uploads a zip, creates a bulk write job,
  reads its details and downloads the result through ``BulkWriteOperations``, each answer parsed into the SDK's
  own models (``SuccessResponse``, ``BulkWriteResponse``, ``FileBodyWrapper``, ``APIException``). The SDK's
  ``DataCenter.Environment`` takes the emulator's URLs (API, accounts, upload) and its token store is a file in
  the test's folder; the SDK gets its access token from the emulator's accounts server with a refresh token.
- Zoho's ``AnalyticsClient`` 2.1.0 (as shipped in PyPI ``zoho-analytics-connector`` 1.5.3) runs the calls of
  Zoho's samples: orgs, workspaces, a workspace's details, its views, a view's details, an asynchronous import
  into a table and into a new table (``import_bulk_data``, ``import_bulk_data_in_new_table``; 2.1.0 has no
  ``import_data_async``) polled with ``get_import_job_details``, and an expired token refreshed on 8535.

Both are in the ``test`` extra; where they cannot be installed the module is skipped.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.bulk_write import ORG_ZGID

analytics_client = pytest.importorskip("zoho_analytics_connector.analytics_client_upstream")
pytest.importorskip("zohocrmsdk")

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken  # noqa: E402
from zohocrmsdk.src.com.zoho.api.authenticator.store.file_store import FileStore  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.bulk_write import (  # noqa: E402
    APIException,
    BulkWriteOperations,
    BulkWriteResponse,
    CallBack,
    FieldMapping,
    FileBodyWrapper,
    RequestWrapper,
    Resource,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.bulk_write.bulk_write_operations import UploadFileHeader  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.header_map import HeaderMap  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.modules import MinifiedModule  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.util import Choice, StreamWrapper  # noqa: E402

AnalyticsClient = analytics_client.AnalyticsClient
ServerError = analytics_client.ServerError
ORG = "55522777"
WORKSPACE = "35130000001055707"
VIEW = "35130000001234567"
CONTACTS = "Last_Name,First_Name,Email\nBoyle,Pat,pat@example.com\nShaw,Sam,\nLee,Kim,pat@example.com\n"


@pytest.fixture(autouse=True)
def no_proxy_to_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both clients use ``requests`` with the environment's proxies: never route 127.0.0.1 through one."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


# -- Zoho's CRM SDK -----------------------------------------------------------------------------------------
@pytest.fixture
def crm(zoho_emulator: ZohoEmulator, tmp_path: Path) -> Iterator[BulkWriteOperations]:
    """The SDK initialized against the emulator: its own Environment, its file token store, a refresh token."""
    client = ZohoEmulator.DEFAULT_CLIENT
    base = zoho_emulator.base_url
    environment = DataCenter.Environment(base, f"{base}/oauth/v2/token", base)
    token = OAuthToken(
        client_id=client.client_id,
        client_secret=client.client_secret,
        refresh_token=client.refresh_token,
        find_user=False,  # the user lookup needs ZohoCRM.users.READ and an API the emulator does not serve
    )
    Initializer.initialize(
        environment=environment,
        token=token,
        store=FileStore(str(tmp_path / "sdk_tokens.csv")),
        resource_path=str(tmp_path),
    )
    yield BulkWriteOperations()
    Initializer.initializer = None


def upload(crm: BulkWriteOperations, tmp_path: Path, text: str = CONTACTS) -> str:
    archive = tmp_path / "Contacts.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("Contacts.csv", text)
    request = FileBodyWrapper()
    request.set_file(StreamWrapper(file_path=str(archive)))
    headers = HeaderMap()
    headers.add(UploadFileHeader.feature, "bulk-write")
    headers.add(UploadFileHeader.x_crm_org, ORG_ZGID)
    response = crm.upload_file(request, headers)
    assert response.get_status_code() == 200
    answer = response.get_object()
    assert isinstance(answer, SuccessResponse), vars(answer)
    assert answer.get_code().get_value() == "FILE_UPLOAD_SUCCESS"
    return str(answer.get_details()["file_id"])


def create_request(file_id: str, module: str = "Contacts", callback_url: str | None = None) -> RequestWrapper:
    """A create as Zoho's SDK samples build it (CreateBulkWriteJob.py): operation, callback, one resource."""
    request = RequestWrapper()
    request.set_operation(Choice("insert"))
    request.set_character_encoding("UTF-8")
    if callback_url is not None:
        callback = CallBack()
        callback.set_url(callback_url)
        callback.set_method(Choice("post"))
        request.set_callback(callback)
    resource = Resource()
    resource.set_type(Choice("data"))
    minified = MinifiedModule()
    minified.set_api_name(module)
    resource.set_module(minified)
    resource.set_file_id(file_id)
    resource.set_ignore_empty(True)
    mappings = []
    for index, name in ((0, "Last_Name"), (2, "Email")):
        mapping = FieldMapping()
        mapping.set_api_name(name)
        mapping.set_index(index)
        mappings.append(mapping)
    resource.set_field_mappings(mappings)
    request.set_resource([resource])
    return request


def completed(crm: BulkWriteOperations, job_id: str) -> BulkWriteResponse:
    for _ in range(10):
        response = crm.get_bulk_write_job_details(job_id)
        assert response.get_status_code() == 200
        details = response.get_object()
        assert isinstance(details, BulkWriteResponse), vars(details)
        if details.get_status() == "COMPLETED":
            return details
    raise AssertionError(f"job {job_id} never completed")


def test_the_crm_sdk_creates_a_job_reads_its_details_and_parses_the_result(
    crm: BulkWriteOperations, zoho_emulator: ZohoEmulator, tmp_path: Path
) -> None:
    file_id = upload(crm, tmp_path)
    response = crm.create_bulk_write_job(create_request(file_id, callback_url="https://example.com/zoho/done"))
    assert response.get_status_code() == 201
    created = response.get_object()
    assert isinstance(created, SuccessResponse), vars(created)
    assert created.get_code().get_value() == "SUCCESS"
    job_id = created.get_details()["id"]
    assert created.get_details()["created_by"].get_id()

    details = completed(crm, job_id)
    assert (details.get_id(), details.get_operation(), details.get_character_encoding()) == (job_id, "insert", "UTF-8")
    assert details.get_created_time() is not None
    assert (details.get_callback().get_url(), details.get_callback().get_method().get_value()) == (
        "https://example.com/zoho/done",
        "post",
    )
    [resource] = details.get_resource()
    assert resource.get_module().get_api_name() == "Contacts"
    assert [(m.get_api_name(), m.get_index()) for m in resource.get_field_mappings()] == [
        ("Last_Name", 0),
        ("Email", 2),
    ]
    file = resource.get_file()
    assert file.get_name() == "Contacts.csv"
    # The third row repeats the first one's e-mail: Zoho skips it with DUPLICATE_DATA.
    counts = (file.get_added_count(), file.get_updated_count(), file.get_skipped_count(), file.get_total_count())
    assert counts == (2, 0, 1, 3)

    download = crm.download_bulk_write_result(details.get_result().get_download_url())
    assert download.get_status_code() == 200
    wrapper = download.get_object()
    assert isinstance(wrapper, FileBodyWrapper), vars(wrapper)
    stream = wrapper.get_file()
    assert stream.get_name() == f"{job_id}.zip"  # from Content-Disposition, which the SDK requires
    with zipfile.ZipFile(io.BytesIO(stream.get_stream().content)) as archive:
        [name] = archive.namelist()
        rows = list(csv.DictReader(io.StringIO(archive.read(name).decode())))
    assert [(r["Last_Name"], r["STATUS"], r["ERRORS"]) for r in rows] == [
        ("Boyle", "added", ""),
        ("Shaw", "added", ""),
        ("Lee", "skipped", "DUPLICATE_DATA-Email"),
    ]
    assert all(r["RECORD_ID"] for r in rows[:2])
    assert zoho_emulator.issued_tokens  # the SDK got its token from the emulator's accounts server


def test_the_crm_sdk_parses_the_emulator_s_refusals(crm: BulkWriteOperations, tmp_path: Path) -> None:
    response = crm.create_bulk_write_job(create_request(upload(crm, tmp_path), module="Contcats"))
    assert response.get_status_code() == 400
    refusal = response.get_object()
    assert isinstance(refusal, APIException), vars(refusal)
    assert refusal.get_code().get_value() == "MODULE_NOT_AVAILABLE"
    assert refusal.get_status().get_value() == "error"
    assert refusal.get_details()["api_name"] == "Contcats"
    bad_callback = crm.create_bulk_write_job(create_request(upload(crm, tmp_path), callback_url="not a url"))
    assert bad_callback.get_object().get_code().get_value() == "INVALID_CALLBACK_URL"
    missing = crm.get_bulk_write_job_details("111111000000999999")
    assert isinstance(missing.get_object(), APIException)
    assert missing.get_object().get_code().get_value() == "RESOURCE_NOT_FOUND"


def test_the_crm_sdk_parses_an_upload_without_its_headers(crm: BulkWriteOperations, tmp_path: Path) -> None:
    archive = tmp_path / "Contacts.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("Contacts.csv", CONTACTS)
    request = FileBodyWrapper()
    request.set_file(StreamWrapper(file_path=str(archive)))
    response = crm.upload_file(request, HeaderMap())
    assert response.get_status_code() == 400
    refusal = response.get_object()
    assert isinstance(refusal, APIException), vars(refusal)
    assert refusal.get_status().get_value() == "error"
    assert refusal.get_x_error().get_value() == "check if headers [feature, X-CRM-ORG] are present and valid"


# -- Zoho's AnalyticsClient ---------------------------------------------------------------------------------
@pytest.fixture
def analytics(zoho_emulator: ZohoEmulator) -> Any:
    """AnalyticsClient as Zoho's samples make it, its two server URLs pointed at the emulator."""
    zoho_emulator.analytics_orgs.add(ORG)
    client = ZohoEmulator.DEFAULT_CLIENT
    ac = AnalyticsClient(client.client_id, client.client_secret, client.refresh_token)
    ac.accounts_server_url = zoho_emulator.base_url
    ac.analytics_server_url = zoho_emulator.base_url
    return ac


def test_the_analytics_client_s_metadata_calls(analytics: Any) -> None:
    orgs = analytics.get_orgs()
    assert [o["orgId"] for o in orgs] == [ORG]
    workspaces = analytics.get_workspaces()
    owned = {w["workspaceId"]: w["workspaceName"] for w in workspaces["ownedWorkspaces"]}
    assert owned[WORKSPACE] == "Sales Analytics"
    assert workspaces["sharedWorkspaces"] == []
    details = analytics.get_workspace_details(WORKSPACE)
    assert (details["workspaceId"], details["workspaceName"]) == (WORKSPACE, "Sales Analytics")
    views = analytics.get_workspace_instance(ORG, WORKSPACE).get_views()
    assert {"viewId": VIEW, "viewName": "Sales", "viewType": "Table"}.items() <= views[0].items()
    view = analytics.get_view_details(VIEW, {"withInvolvedMetaInfo": True})
    assert view["viewId"] == VIEW
    assert [c["columnName"] for c in view["columns"][:2]] == ["Date", "Region"]
    with pytest.raises(ServerError) as unknown:
        analytics.get_view_details("999")
    assert unknown.value.errorCode == 7104


def job_done(bulk: Any, job_id: str) -> dict[str, Any]:
    for _ in range(10):
        details: dict[str, Any] = bulk.get_import_job_details(job_id)
        if details["jobCode"] == "1004":
            return details
        assert details["jobCode"] in ("1001", "1002"), details
    raise AssertionError(f"import {job_id} never completed")


def test_the_analytics_client_s_async_imports(analytics: Any, zoho_emulator: ZohoEmulator, tmp_path: Path) -> None:
    source = tmp_path / "sales.csv"
    source.write_text("Date,Region,Sales\n2024-01-01,East,10\n2024-01-02,West,12\n")
    bulk = analytics.get_bulk_instance(ORG, WORKSPACE)
    # Zoho's sample values, in its own case: "append", "csv", "true" (CONFIG as a query parameter, FILE multipart).
    job_id = bulk.import_bulk_data(VIEW, "append", "csv", "true", str(source))
    details = job_done(bulk, job_id)
    summary = details["jobInfo"]["importSummary"]
    assert (summary["totalRowCount"], summary["successRowCount"], summary["importType"]) == (2, 2, "APPEND")
    assert details["jobInfo"]["columnDetails"] == {"Date": "Date", "Region": "Plain Text", "Sales": "Currency"}
    assert "viewId" not in details["jobInfo"]  # an existing table: no new view

    new_job = bulk.import_bulk_data_in_new_table("Sales 2025", "csv", "true", str(source))
    details = job_done(bulk, new_job)
    assert details["jobInfo"]["viewId"]
    assert details["jobInfo"]["importSummary"]["totalRowCount"] == 2
    with pytest.raises(ServerError) as taken:
        bulk.import_bulk_data_in_new_table("Sales", "csv", "true", str(source))
    assert taken.value.errorCode == 7111


def test_the_analytics_client_refreshes_an_expired_token(analytics: Any, zoho_emulator: ZohoEmulator) -> None:
    assert analytics.get_orgs()
    first = analytics.access_token
    zoho_emulator.revoke_tokens()  # the client sees 8535 and asks for a new token, as Zoho's client does
    assert analytics.get_workspaces()["ownedWorkspaces"]
    assert analytics.access_token != first
