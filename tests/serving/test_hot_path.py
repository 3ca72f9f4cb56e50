"""The recommendations hot path: catalogue rows per page, the row memo's refresh, the query memo."""
from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reranking.models import Item, Ranking
from reranking.services import cache, serving

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def url(user: str, query: str = "k=5") -> str:
    return f"/api/v1/users/{user}/recommendations?{query}"


def ranked_ids(user_id: str) -> list[str]:
    return [i for i, _ in Ranking.objects.get(user_external_id=user_id, version__is_active=True).items]


@pytest.fixture
def row_reads(monkeypatch) -> list[int]:
    """Record how many ids each catalogue read asks for."""
    sizes: list[int] = []
    original = serving.fetch_item_rows
    monkeypatch.setattr(serving, "fetch_item_rows", lambda tenant, ids: sizes.append(len(ids)) or original(tenant, ids))
    return sizes


def test_a_page_reads_rows_for_that_page_not_the_whole_ranking(shop, user_id, row_reads):
    assert shop.client.get(url(user_id)).status_code == 200
    assert len(ranked_ids(user_id)) > 20
    assert row_reads == [20]  # 2 * 5 + 10: room for a few deleted items in one read
    with CaptureQueriesContext(connection) as again:
        assert shop.client.get(url(user_id)).status_code == 200
    assert row_reads == [20], "memoised"
    assert not [q for q in again.captured_queries if "reranking_item" in q["sql"]]


def test_deleted_items_are_skipped_and_the_page_is_still_full(shop, user_id, row_reads):
    ranked = ranked_ids(user_id)
    Item.objects.filter(tenant=shop.tenant, external_id__in=ranked[:25]).update(is_deleted=True)
    items = shop.client.get(url(user_id)).json()["items"]
    assert [i["item_id"] for i in items] == ranked[25:30]
    assert [i["position"] for i in items] == [1, 2, 3, 4, 5]
    assert row_reads == [20, 20], "one more read after the first slice was all deleted"


def test_catalogue_edits_reach_served_lists_when_the_memo_expires_in_one_read(shop, user_id, row_reads, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(serving.time, "monotonic", lambda: now[0])
    first = shop.client.get(url(user_id)).json()["items"][0]["item_id"]
    Item.objects.filter(tenant=shop.tenant, external_id=first).update(title="Renamed")  # another process
    now[0] += cache.ITEM_MEMO_SECONDS + 1
    reads_before = len(row_reads)
    body = shop.client.get(url(user_id)).json()
    assert body["items"][0]["title"] == "Renamed"
    assert row_reads[reads_before:] == [20], "the memo's rows are read again in one query, nothing more"


def test_each_query_string_is_validated_on_its_own(shop, user_id):
    assert len(shop.client.get(url(user_id, "k=3")).json()["items"]) == 3
    assert len(shop.client.get(url(user_id, "k=4")).json()["items"]) == 4
    for _ in range(2):  # a bad query is refused every time, not remembered as good
        response = shop.client.get(url(user_id, "k=0"))
        assert response.status_code == 400 and response.json()["error"]["message"].startswith("k")


@pytest.mark.integration
def test_a_warm_request_is_one_redis_round_trip_and_no_query(shop, user_id, monkeypatch):
    """The throttle's round trip also reads the ranking and the user's last-event time; the served-list
    log is appended in the process and pushed by a thread (reranking/services/served_log.py)."""
    from redis.connection import AbstractConnection

    from tenants import authentication

    for module, name in ((cache, "LOCAL_SECONDS"), (cache, "ITEM_MEMO_SECONDS"), (authentication, "KEY_MEMO_SECONDS")):
        monkeypatch.setattr(module, name, 600.0)  # a slow test machine must not outlast the memos
    cache._local.clear()  # entries made while precomputing would expire in 2 s
    for _ in range(3):  # warms this process's memos (the first also creates the privacy settings row)
        assert shop.client.get(url(user_id)).status_code == 200
    writes = []
    original = AbstractConnection.send_packed_command
    request_thread = threading.current_thread()  # not the served log's pushing thread

    def counted(self, command, *args, **kwargs):
        if threading.current_thread() is request_thread:
            writes.append(b"".join(command) if isinstance(command, list) else command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    with CaptureQueriesContext(connection) as queries:
        body = shop.client.get(url(user_id)).json()
    assert len(writes) == 1 and not queries.captured_queries
    assert all(command in writes[0] for command in (b"INCR", b"PEXPIRE", b"MGET"))
    assert body["strategy"] == "precomputed" and [i["item_id"] for i in body["items"]] == ranked_ids(user_id)[:5]
