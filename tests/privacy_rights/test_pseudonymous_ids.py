"""Pseudonymous ids: the database holds keyed hashes of end-user ids, and every lookup takes the client's id."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from reranking.models import EndUser, Event, PrivacySettings, Ranking
from reranking.services import cache, identity
from reranking.services.ingest import ingest_events
from tests.privacy_rights.conftest import ready_version

pytestmark = pytest.mark.django_db
SECRET_ID = "ann@example.com"


def turn_on(ctx) -> None:
    response = ctx.client.patch("/api/v1/privacy", {"pseudonymous_ids": True}, format="json")
    assert response.status_code == 200 and response.json()["pseudonymous_ids"] is True


def stored_values(table: str, column: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")
        return [row[0] for row in cursor.fetchall()]


def ingest(tenant, user_id: str, items=("sku-1", "sku-2")) -> None:
    rows = [{"user_id": user_id, "item_id": item, "timestamp": "2026-01-01T10:00:00Z"} for item in items]
    assert ingest_events(tenant, rows).stored == len(rows)


def test_the_database_never_holds_the_raw_id(alice, catalogue):
    turn_on(alice)
    ingest(alice.tenant, SECRET_ID)
    ready_version(alice.tenant, 1, active=True)

    users = stored_values("reranking_enduser", "external_id")
    rankings = stored_values("reranking_ranking", "user_external_id")
    assert len(users) == 1 and users == rankings
    assert SECRET_ID not in users and users[0].startswith("p_") and len(users[0]) == 66
    assert users[0] == identity.stored_user_id(alice.tenant, SECRET_ID)


def test_every_lookup_takes_the_clients_id_and_echoes_it(alice, catalogue, queue):
    turn_on(alice)
    ingest(alice.tenant, SECRET_ID)
    base = f"/api/v1/users/{SECRET_ID}"
    reranked = alice.client.post("/api/v1/rerank", {"user_id": SECRET_ID, "candidates": ["sku-3", "sku-4"]}, format="json")
    assert reranked.status_code == 200 and reranked.json()["strategy"] == "popular"  # no model yet: no artifact to load
    ready_version(alice.tenant, 1, active=True)
    cache.delete(cache.active_key(alice.tenant.pk))  # as activation does
    served = alice.client.get(f"{base}/recommendations")
    assert served.status_code == 200 and served.json()["strategy"] == "precomputed"
    assert alice.client.get(base).json()["user_id"] == SECRET_ID
    events = alice.client.get(f"{base}/events").json()["results"]
    assert [e["user_id"] for e in events] == [SECRET_ID, SECRET_ID]
    assert {e["user_id"] for e in alice.client.get("/api/v1/events", {"user_id": SECRET_ID}).json()["results"]} == {SECRET_ID}
    assert alice.client.get(f"{base}/export").json()["user_id"] == SECRET_ID
    missing = alice.client.get("/api/v1/users/nobody@example.com/recommendations")
    assert missing.status_code == 404 and "nobody@example.com" in missing.json()["error"]["message"]
    assert identity.stored_user_id(alice.tenant, "nobody@example.com") not in missing.content.decode()

    assert alice.client.post(f"{base}/erase").status_code == 200
    assert not EndUser.objects.for_tenant(alice.tenant).exists()
    assert alice.client.get(base).status_code == 404


def test_two_tenants_hash_the_same_id_differently(alice, charlie, catalogue):
    from reranking.services.catalogue import upsert_items

    upsert_items(charlie.tenant, [{"item_id": "sku-1", "title": "One"}, {"item_id": "sku-2", "title": "Two"}])
    for ctx in (alice, charlie):
        turn_on(ctx)
        ingest(ctx.tenant, SECRET_ID)
    ours, theirs = (EndUser.objects.get(tenant=ctx.tenant).external_id for ctx in (alice, charlie))
    assert ours != theirs and SECRET_ID not in (ours, theirs)
    assert charlie.client.get(f"/api/v1/users/{SECRET_ID}").status_code == 200  # each finds its own


def test_the_hash_needs_the_server_key_as_well_as_the_stored_salt(alice, catalogue, settings):
    turn_on(alice)
    salt = PrivacySettings.objects.get(tenant=alice.tenant).pseudonym_salt
    assert len(salt) == 32
    first = identity.UserIds(salt).stored(SECRET_ID)
    settings.PSEUDONYM_KEY = "another-server-key"
    assert identity.UserIds(salt).stored(SECRET_ID) != first


def test_turning_it_on_converts_existing_users_and_rankings_at_once(alice, users, queue):
    before = {u.external_id: u.pk for u in EndUser.objects.for_tenant(alice.tenant)}
    assert set(before) == {"ann", "ben"}

    turn_on(alice)

    after = {u.pk: u.external_id for u in EndUser.objects.for_tenant(alice.tenant)}
    assert after == {pk: identity.stored_user_id(alice.tenant, raw) for raw, pk in before.items()}
    assert set(Ranking.objects.for_tenant(alice.tenant).values_list("user_external_id", flat=True)) == set(after.values())
    assert Event.objects.for_tenant(alice.tenant).filter(user_id=before["ann"]).count() == 3  # history kept
    assert alice.client.get("/api/v1/users/ann/recommendations").json()["strategy"] == "precomputed"
    ingest(alice.tenant, "ann", items=("sku-4",))  # the same person, not a new user
    assert EndUser.objects.for_tenant(alice.tenant).count() == 2


def test_it_cannot_be_turned_off_again(alice, catalogue):
    turn_on(alice)
    response = alice.client.patch("/api/v1/privacy", {"pseudonymous_ids": False}, format="json")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("pseudonymous_ids")
    assert PrivacySettings.objects.get(tenant=alice.tenant).pseudonymous_ids


def test_the_web_ui_finds_users_by_their_own_id(alice, users, queue):
    turn_on(alice)
    client = Client()
    client.force_login(alice.owner)
    explorer = client.get(reverse("ui:explorer", args=[alice.tenant.slug]), {"user": "ben"}).content.decode()
    assert 'id="recommendations"' in explorer and "No end user" not in explorer
    assert identity.stored_user_id(alice.tenant, "ann") not in explorer  # no hashes offered as suggestions
    page = reverse("ui:privacy", args=[alice.tenant.slug])
    response = client.post(page, {"action": "erase", "user_id": "ben", "confirm": "on"}, follow=True)
    assert "End user erased: 3 interactions" in response.content.decode()
    assert EndUser.objects.for_tenant(alice.tenant).count() == 1


def test_an_item_page_shows_pseudonyms_without_explorer_links(alice, users, queue):
    turn_on(alice)
    client = Client()
    client.force_login(alice.owner)
    html = client.get(reverse("ui:item", args=[alice.tenant.slug, "sku-1"])).content.decode()
    assert 'title="pseudonymous id">p_' in html and "?user=" not in html
