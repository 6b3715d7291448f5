"""Zoho's rules over HTTP: a bulk write skips a record whose unique field value exists (DUPLICATE_DATA), and a
create's ``callback`` is checked, echoed in the job's details and called (on a loopback URL) when the job ends.

The expectations come from Zoho's pages and OpenAPI files: the record-level codes of the bulk write result
(``docs/zoho-api.md``, "Creating jobs"; the records API's DUPLICATE_DATA, insert-records.html) and crm-oas v8.0
``createBulkWriteJob`` (``callback{url: uri, method: enum post}``, INVALID_CALLBACK_URL) and
``getBulkWriteJobDetails`` (``callback`` and the resource's ``field_mappings`` echoed).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from aiohttp import web

from airflow_provider_zoho.testing import ZohoEmulator
from tests.helpers import wait_until
from tests.loopback import LoopbackServer
from tests.testing.test_emulator_crm_rules import BIGIN, CONTACTS, Zoho, refusal


@pytest.fixture
def zoho(zoho_emulator: ZohoEmulator) -> Iterator[Zoho]:
    client = Zoho(zoho_emulator)
    yield client
    client.session.close()


def job_id_of(reply: requests.Response) -> str:
    assert reply.status_code == 201, reply.text
    job_id: str = reply.json()["details"]["id"]
    return job_id


def create(zoho: Zoho, body: dict[str, Any], text: str = CONTACTS) -> requests.Response:
    resource = {"type": "data", "module": {"api_name": "Contacts"}, "file_id": zoho.file_id(text)}
    return zoho.session.post(zoho.url(zoho.paths["create"]), json={"resource": [resource], **body}, timeout=10)


# -- DUPLICATE_DATA ------------------------------------------------------------------------------------------
def test_an_insert_of_an_existing_unique_value_is_skipped_duplicate_data(zoho: Zoho) -> None:
    first = job_id_of(zoho.create("insert"))
    assert zoho.counts(first)["added_count"] == 3
    # The same e-mail addresses again, one in another case (Zoho's check ignores case for e-mail), one new.
    again = "Last_Name,Email\nBoyle,PAT@example.com\nShaw,sam@example.com\nNew,new@example.com\n"
    job_id = job_id_of(zoho.create("insert", again))
    _, rows = zoho.result(job_id)
    assert [(r["STATUS"], r["ERRORS"]) for r in rows] == [
        ("skipped", "DUPLICATE_DATA-Email"),
        ("skipped", "DUPLICATE_DATA-Email"),
        ("added", ""),
    ]
    assert [r["RECORD_ID"] for r in rows][:2] == ["", ""]
    assert zoho.counts(job_id) == {"added_count": 1, "updated_count": 0, "skipped_count": 2, "total_count": 3}
    assert len(zoho.emulator.writes.account.records("crm", "Contacts")) == 4


def test_a_duplicate_earlier_in_the_same_file_is_skipped(zoho: Zoho) -> None:
    text = "Last_Name,Email\nBoyle,pat@example.com\nShaw,\nKing,pat@example.com\nLee,\n"
    job_id = job_id_of(zoho.create("insert", text))
    _, rows = zoho.result(job_id)
    # An empty unique value is no duplicate (two records without e-mail both land).
    assert [(r["STATUS"], r["ERRORS"]) for r in rows] == [
        ("added", ""),
        ("added", ""),
        ("skipped", "DUPLICATE_DATA-Email"),
        ("added", ""),
    ]


def test_an_upsert_creating_a_record_with_a_taken_unique_value_is_skipped(zoho: Zoho) -> None:
    job_id_of(zoho.create("insert"))
    # Matched by id (unknown here, so each row would be created): the e-mail is taken by an inserted record.
    text = "id,Last_Name,Email\n1,Boyle,pat@example.com\n2,Ng,ng@example.com\n"
    job_id = job_id_of(zoho.create("upsert", text, find_by="id"))
    _, rows = zoho.result(job_id)
    assert [(r["STATUS"], r["ERRORS"]) for r in rows] == [("skipped", "DUPLICATE_DATA-Email"), ("added", "")]
    # By the unique field itself, the same rows update the records that hold it: no duplicate.
    job_id = job_id_of(zoho.create("upsert", "Last_Name,Email\nBoyle2,pat@example.com\n", find_by="Email"))
    assert zoho.counts(job_id) == {"added_count": 0, "updated_count": 1, "skipped_count": 0, "total_count": 1}


def test_an_update_to_another_record_s_unique_value_is_skipped(zoho: Zoho) -> None:
    _, rows = zoho.result(job_id_of(zoho.create("insert")))
    pat, sam = rows[0]["RECORD_ID"], rows[1]["RECORD_ID"]
    text = f"id,Email\n{pat},sam@example.com\n{sam},sam@example.com\n"
    _, rows = zoho.result(job_id_of(zoho.create("update", text, find_by="id")))
    assert [(r["STATUS"], r["ERRORS"]) for r in rows] == [("skipped", "DUPLICATE_DATA-Email"), ("updated", "")]


def test_bigin_skips_duplicates_too(zoho_emulator: ZohoEmulator) -> None:
    bigin = Zoho(zoho_emulator, BIGIN)
    job_id_of(bigin.create("insert"))
    _, rows = bigin.result(job_id_of(bigin.create("insert", "Last_Name,Email\nBoyle,pat@example.com\n")))
    assert [(r["STATUS"], r["ERRORS"]) for r in rows] == [("skipped", "DUPLICATE_DATA-Email")]


# -- callback ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("callback", "code", "path"),
    [
        ({"url": "not a url", "method": "post"}, "INVALID_CALLBACK_URL", "$.callback.url"),
        ({"url": "ftp://example.com/done", "method": "post"}, "INVALID_CALLBACK_URL", "$.callback.url"),
        ({"url": 7, "method": "post"}, "INVALID_CALLBACK_URL", "$.callback.url"),
        ({"url": "https://example.com/done", "method": "get"}, "INVALID_DATA", "$.callback.method"),
        ({"url": "https://example.com/done", "method": "POST"}, "INVALID_DATA", "$.callback.method"),
        ({"url": "https://example.com/done"}, "MISSING_REQUIRED_KEY", "$.callback.method"),
        ({"method": "post"}, "MISSING_REQUIRED_KEY", "$.callback.url"),
        ("https://example.com/done", "INVALID_DATA", "$.callback"),
    ],
)
def test_a_bad_callback_is_refused(zoho: Zoho, callback: Any, code: str, path: str) -> None:
    reply = create(zoho, {"operation": "insert", "callback": callback})
    assert refusal(reply) == code
    assert reply.json()["details"]["json_path"] == path
    assert zoho.emulator.writes.created == {}


def test_the_callback_and_the_mappings_are_echoed_in_the_job_details(zoho: Zoho) -> None:
    callback = {"url": "https://example.com/zoho/done", "method": "post"}
    mappings = [{"api_name": "Last_Name", "index": 0}, {"api_name": "Email", "index": 2}]
    resource = {"field_mappings": mappings, "ignore_empty": True}
    body = {"operation": "insert", "callback": callback}
    reply = zoho.session.post(
        zoho.url(zoho.paths["create"]),
        json={
            **body,
            "resource": [{"type": "data", "module": {"api_name": "Contacts"}, "file_id": zoho.file_id(), **resource}],
        },
        timeout=10,
    )
    details = zoho.status(job_id_of(reply))
    assert details["callback"] == callback
    [echoed] = details["resource"]
    assert [(m["api_name"], m["index"]) for m in echoed["field_mappings"]] == [("Last_Name", 0), ("Email", 2)]
    assert echoed["ignore_empty"] is True
    assert zoho.emulator.writes.callbacks_sent == []  # not a loopback URL: never called


def test_a_job_without_callback_has_none_in_its_details(zoho: Zoho) -> None:
    assert "callback" not in zoho.status(job_id_of(zoho.create("insert")))


class Receiver(LoopbackServer):
    """Records the callback POSTs it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, str, Any]] = []
        self.arrived = threading.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append((request.method, request.path, json.loads(await request.read())))
        self.arrived.set()
        return web.Response(text="ok")


def test_a_loopback_callback_is_posted_the_job_details_when_the_job_ends(zoho: Zoho) -> None:
    with Receiver() as receiver:
        url = receiver.url.replace("127.0.0.1", "localhost") + "/zoho/done?task=load"
        job_id = job_id_of(create(zoho, {"operation": "insert", "callback": {"url": url, "method": "post"}}))
        time.sleep(0.2)
        assert receiver.received == []  # the job is not over until its status says so
        assert zoho.status(job_id)["status"] == "COMPLETED"
        assert receiver.arrived.wait(30)
        # The emulator notes the callback once the receiver's answer is back, just after the receiver saw it.
        wait_until(lambda: zoho.emulator.writes.callbacks_sent)
    [(method, path, body)] = receiver.received
    assert (method, path) == ("POST", "/zoho/done")
    assert body["id"] == job_id
    assert body["status"] == "COMPLETED"
    assert body["callback"] == {"url": url, "method": "post"}
    assert body["resource"][0]["file"]["added_count"] == 3
    [(sent_url, _body, outcome)] = zoho.emulator.writes.callbacks_sent
    assert (sent_url, outcome) == (url, 200)


def test_a_job_created_completed_calls_back_at_once(zoho: Zoho) -> None:
    zoho.emulator.writes.outcomes = type(zoho.emulator.writes.outcomes)(script=("COMPLETED",))
    with Receiver() as receiver:
        callback = {"url": receiver.url + "/done", "method": "post"}
        job_id = job_id_of(create(zoho, {"operation": "insert", "callback": callback}))
        assert receiver.arrived.wait(5)
    assert receiver.received[0][2]["id"] == job_id
