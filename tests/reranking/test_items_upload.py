"""POST /items/upload: a catalogue CSV in the multipart field `file`, all or nothing."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reranking.models import Item

pytestmark = pytest.mark.django_db

URL = "/api/v1/items/upload"


def upload(ctx, content: bytes | str, field: str = "file"):
    data = content.encode() if isinstance(content, str) else content
    return ctx.client.post(URL, {field: SimpleUploadedFile("items.csv", data, "text/csv")}, format="multipart")


def test_it_upserts_the_rows_of_a_csv(alice):
    response = upload(alice, (
        "item_id,title,category,tags,price,available,colour\n"
        "a,Apple,fruit,red|sweet,1.5,yes,red\n"
        "b,Banana,fruit,,,no,\n"
    ))
    assert response.status_code == 200
    assert response.json() == {"created": 2, "updated": 0, "unchanged": 0}
    apple = Item.objects.get(tenant=alice.tenant, external_id="a")
    assert (apple.tags, apple.price, apple.available) == (["red", "sweet"], Decimal("1.50"), True)
    assert apple.attributes == {"colour": "red"}
    banana = Item.objects.get(tenant=alice.tenant, external_id="b")
    assert (banana.price, banana.available, banana.attributes) == (None, False, {})


def test_uploading_the_same_csv_twice_changes_nothing(alice):
    csv = "item_id,title,price\na,Apple,1\n"
    upload(alice, csv)
    assert upload(alice, csv).json() == {"created": 0, "updated": 0, "unchanged": 1}


def test_it_reads_a_byte_order_mark(alice):
    assert upload(alice, "\ufeffitem_id,title\na,Apple\n".encode()).json()["created"] == 1


def test_it_writes_to_the_keys_tenant_only(alice, charlie, catalogue):
    upload(charlie, "item_id,title\nsku-1,Charlie's\n")
    assert Item.objects.get(tenant=alice.tenant, external_id="sku-1").title == "Item 1"
    assert Item.objects.get(tenant=charlie.tenant, external_id="sku-1").title == "Charlie's"


def test_one_bad_row_refuses_the_whole_file_naming_the_row(alice, catalogue, snapshot):
    before = snapshot()
    response = upload(alice, "item_id,title,price\nnew-1,New,1\nsku-1,Changed,2\nnew-2,Bad,cheap\n")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("1 invalid rows; nothing was written. First: row 2, price: Must be a number.")
    assert error["detail"] == [{"index": 2, "field": "price", "message": "Must be a number."}]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("title\nApple\n", "at least item_id and title"),
        ("", "at least item_id and title"),
        ("item_id,title\na,Apple,extra\n", "Line 2 has more cells than the header"),
        (b"item_id,title\na,\xff\xfe\n", "utf-8"),
        ("item_id,title\n", "empty"),
        ("item_id,title\n" + "a," + "x" * 200_000 + "\n", "field larger than field limit"),
    ],
)
def test_it_refuses_a_file_it_cannot_read(alice, snapshot, content, words):
    before = snapshot()
    response = upload(alice, content)
    assert response.status_code == 400
    assert words in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_a_request_without_the_file_field(alice, snapshot):
    before = snapshot()
    response = upload(alice, "item_id,title\na,Apple\n", field="document")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("file: Attach the CSV")
    assert snapshot() == before


def test_it_refuses_a_json_body(alice):
    response = alice.client.post(URL, [{"item_id": "a", "title": "A"}], format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("file: ")


def test_it_refuses_an_oversize_file_with_413(alice, settings, snapshot):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    before = snapshot()
    response = upload(alice, "item_id,title\n" + "".join(f"{n},Title {n}\n" for n in range(200)))
    assert response.status_code == 413
    assert "the limit is 1000" in response.json()["error"]["message"]
    assert snapshot() == before


def test_it_refuses_more_than_10000_rows(alice, snapshot):
    before = snapshot()
    response = upload(alice, "item_id,title\n" + "".join(f"{n},T\n" for n in range(10_001)))
    assert response.status_code == 400
    assert "10001 rows; at most 10000" in response.json()["error"]["message"]
    assert snapshot() == before
