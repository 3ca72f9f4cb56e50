"""Every user and item id that ingest accepts can be addressed: fetched, exported, erased, recommended for."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from reranking.models import EndUser, Item

pytestmark = pytest.mark.django_db

ODD_IDS = ["a.b", "...", ".hidden", "ünï 🎉", "a b", "100%", "a+b", "a?b#c", "semi;colon", "x" * 200, "ends."]


def path(value: str) -> str:
    return quote(value, safe="")


@pytest.mark.parametrize("odd", ODD_IDS)
def test_every_id_ingest_accepts_can_be_fetched_exported_and_erased(alice, odd):
    assert alice.client.post("/api/v1/items/bulk", [{"item_id": odd, "title": "T"}], format="json").status_code == 200
    response = alice.client.post("/api/v1/events", [{"user_id": odd, "item_id": odd}], format="json")
    assert response.json()["stored"] == 1
    assert alice.client.get(f"/api/v1/items/{path(odd)}").json()["item_id"] == odd
    assert alice.client.patch(f"/api/v1/items/{path(odd)}", {"price": 2}, format="json").status_code == 200
    assert alice.client.get(f"/api/v1/users/{path(odd)}").json()["user_id"] == odd
    assert alice.client.get(f"/api/v1/users/{path(odd)}/events").json()["results"][0]["item_id"] == odd
    assert alice.client.get(f"/api/v1/users/{path(odd)}/export").json()["user_id"] == odd
    assert alice.client.get(f"/api/v1/users/{path(odd)}/recommendations").status_code == 200
    assert alice.client.post(f"/api/v1/users/{path(odd)}/erase").status_code == 200
    assert not EndUser.objects.filter(tenant=alice.tenant, external_id=odd).exists()
    assert alice.client.delete(f"/api/v1/items/{path(odd)}").status_code == 204
    assert Item.objects.get(tenant=alice.tenant, external_id=odd).is_deleted


def test_item_ids_that_name_an_item_endpoint_are_refused(alice):
    for reserved in ("bulk", "export", "upload"):
        response = alice.client.post("/api/v1/items/bulk", [{"item_id": reserved, "title": "T"}], format="json")
        assert response.status_code == 400 and response.json()["error"]["detail"][0]["field"] == "item_id"


@pytest.mark.parametrize("bad", ["a/b", ".", "..", "new\nline", "tab\there", "x" * 201])
def test_ids_that_could_not_be_addressed_are_refused_at_ingest(alice, catalogue, bad):
    response = alice.client.post("/api/v1/items/bulk", [{"item_id": bad, "title": "T"}], format="json")
    assert response.status_code == 400 and response.json()["error"]["detail"][0]["field"] == "item_id"
    response = alice.client.post("/api/v1/events", [{"user_id": bad, "item_id": "sku-1"}], format="json")
    assert response.status_code == 400 and response.json()["error"]["detail"]["errors"][0]["field"] == "user_id"
    assert not EndUser.objects.filter(tenant=alice.tenant).exists()
