"""Cold items: embedded soon after upsert, scored by the active model through its text projection."""
from __future__ import annotations

from collections import Counter

import pytest

from reranking.models import Event, Item, ItemEmbedding
from reranking.services.catalogue import upsert_items
from worker.tasks import embed_items as embed_task

pytestmark = pytest.mark.django_db



def test_upserts_queue_one_debounced_embedding_run(alice, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upsert_items(alice.tenant, [{"item_id": "a", "title": "Apple"}])
    with django_capture_on_commit_callbacks(execute=True):
        upsert_items(alice.tenant, [{"item_id": "b", "title": "Banana"}])
    assert [(name, kw["args"], kw["countdown"]) for name, kw in sent_tasks] == [("worker.tasks.embed_items", [alice.tenant.pk], 5)]
    with django_capture_on_commit_callbacks(execute=True):
        upsert_items(alice.tenant, [{"item_id": "a", "title": "Apple"}])  # unchanged: nothing to embed
    assert len(sent_tasks) == 1


def test_the_task_embeds_the_new_items_and_reopens_the_queue(alice, sent_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upsert_items(alice.tenant, [{"item_id": "a", "title": "Apple"}, {"item_id": "b", "title": "Banana"}])
    assert embed_task(alice.tenant.pk) == 2
    assert ItemEmbedding.objects.filter(tenant=alice.tenant).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        upsert_items(alice.tenant, [{"item_id": "a", "title": "Green apple"}])
    assert len(sent_tasks) == 2 and embed_task(alice.tenant.pk) == 1


def favourite(shop, user_id: str) -> Item:
    """The catalogue item of the user's most frequent category that they touched last."""
    events = Event.objects.filter(user__external_id=user_id).select_related("item").order_by("timestamp")
    category = Counter(e.item.category for e in events).most_common(1)[0][0]
    return [e.item for e in events if e.item.category == category][-1]


def new_twin(shop, item: Item, item_id: str = "new-twin") -> str:
    """Upsert a new item whose text matches `item`'s, and embed it as the queued task would."""
    upsert_items(shop.tenant, [{"item_id": item_id, "title": f"{item.title} II", "category": item.category,
                                "tags": item.tags, "description": item.description}])
    embed_task(shop.tenant.pk)
    return item_id


@pytest.mark.slow
def test_a_new_item_with_matching_text_enters_a_matching_users_top_20_without_a_retrain(shop, user_id):
    new = new_twin(shop, favourite(shop, user_id))
    body = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=20").json()
    assert body["strategy"] == "precomputed+new" and body["model_version"] == 1
    assert new in [i["item_id"] for i in body["items"]]


@pytest.mark.slow
def test_rerank_scores_a_new_item_through_the_model(shop, user_id):
    new = new_twin(shop, favourite(shop, user_id))
    others = list(Item.objects.for_tenant(shop.tenant).exclude(external_id=new).order_by("id")
                  .values_list("external_id", flat=True)[:40])
    body = shop.client.post("/api/v1/rerank", {"user_id": user_id, "candidates": [new, *others]}, format="json").json()
    position = [i["item_id"] for i in body["items"]].index(new)
    assert body["items"][position]["score"] is not None
    assert position < 20, "a matching new item is not sent to the end of the list"


@pytest.mark.slow
def test_a_session_on_a_new_item_gets_items_like_it(shop):
    anchor = Item.objects.get(tenant=shop.tenant, external_id="BOO-001-0")
    new = new_twin(shop, anchor)
    body = shop.client.get(f"/api/v1/recommendations?k=10&context={new}").json()
    assert body["strategy"] in ("content", "live")
    assert Counter(i["category"] for i in body["items"]).most_common(1)[0][0] == "Books"


@pytest.mark.slow
def test_new_items_are_explored_in_the_first_ten_places(shop, user_id):
    """Two of a list's first ten places go to the best new items (serving.NEWER_EXPLORE), so items
    the model never saw get the impressions and events the next model learns them from."""
    twins = [new_twin(shop, item, f"new-twin-{n}") for n, item in
             enumerate(Item.objects.for_tenant(shop.tenant).order_by("id")[:3])]
    body = shop.client.get(f"/api/v1/users/{user_id}/recommendations?k=10").json()
    top = [i["item_id"] for i in body["items"]]
    assert body["strategy"] == "precomputed+new"
    assert sum(item in twins for item in top) >= 2
