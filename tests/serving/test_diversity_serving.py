"""MMR diversity in served lists: candidates carry their text embeddings, so near-duplicates spread out."""
from __future__ import annotations

import pytest

from reranking.models import Rule
from reranking.services.catalogue import upsert_items
from reranking.services.embeddings import embed_items
from reranking.services.ingest import ingest_events

pytestmark = [pytest.mark.django_db, pytest.mark.integration, pytest.mark.slow]

OTHERS = ["Cast iron frying pan", "Wool winter scarf", "Science fiction novel about Mars", "Acoustic guitar strings",
          "Organic green tea", "Children's puzzle with 500 pieces", "Stainless steel water bottle", "Yoga mat"]


@pytest.fixture
def near_duplicates(alice):
    """Five copies of one shoe (the most popular items) and eight different products."""
    items = [{"item_id": f"shoe-{n}", "title": "Red running shoe, lightweight mesh", "category": "shoes"} for n in range(5)]
    items += [{"item_id": f"other-{n}", "title": title, "category": f"c{n}"} for n, title in enumerate(OTHERS)]
    upsert_items(alice.tenant, items)
    events = [{"user_id": f"u{u}", "item_id": item["item_id"]}
              for n, item in enumerate(items) for u in range(20 - n)]  # popularity falls along the list
    ingest_events(alice.tenant, events)
    embed_items(alice.tenant)
    return alice


def shoes_in_top(ctx, k: int = 5) -> int:
    body = ctx.client.get(f"/api/v1/recommendations?k={k}").json()
    return sum(i["item_id"].startswith("shoe-") for i in body["items"])


def test_an_mmr_rule_spreads_near_duplicates_out_of_the_served_top(near_duplicates):
    assert shoes_in_top(near_duplicates) == 5
    Rule.objects.create(tenant=near_duplicates.tenant, name="spread", kind="diversity",
                        params={"mmr_lambda": 0.5, "top": 5})
    assert shoes_in_top(near_duplicates) <= 2


def test_rerank_spreads_them_too(near_duplicates):
    Rule.objects.create(tenant=near_duplicates.tenant, name="spread", kind="diversity",
                        params={"mmr_lambda": 0.5, "top": 5})
    candidates = [f"shoe-{n}" for n in range(5)] + [f"other-{n}" for n in range(8)]
    body = near_duplicates.client.post("/api/v1/rerank", {"candidates": candidates, "k": 5}, format="json").json()
    assert sum(i["item_id"].startswith("shoe-") for i in body["items"]) <= 2
