"""Every page renders with a bounded number of queries on a demo-sized tenant.

Speed itself is a benchmark, not a test (a busy machine would make a timed test fail for no fault):
bench/ui_pages.py times the same pages on a 100,000-event tenant and prints medians against 300 ms.
"""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reranking.models import ModelVersion, Rule

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MAX_QUERIES = 15


@pytest.fixture
def demo_shop(alice):
    """The seed_demo data (800 items, 600 users, ~12k events), a rule and a history of 8 versions."""
    from reranking.demo_data import generate
    from reranking.services.bulk import import_events, import_items

    items, events = generate()
    import_items(alice.tenant, items, progress=False)
    import_events(alice.tenant, events, progress=False)
    Rule.objects.create(tenant=alice.tenant, name="books up", kind="boost",
                        params={"when": {"field": "category", "op": "eq", "value": "Books"}, "weight": 0.2})
    for number in range(1, 9):
        methods = [{"name": "popular", "ndcg@10": 0.1 + number / 100},
                   {"name": "reranker", "ndcg@10": 0.3 + number / 100}]
        ModelVersion.objects.create(tenant=alice.tenant, number=number, status="succeeded", is_active=number == 8,
                                    activated_at=timezone.now(), metrics={"methods": methods})
    return {"user": events[0]["user_id"], "item": items[0]["item_id"]}


def test_every_page_answers_with_a_bounded_number_of_queries(owner, url, demo_shop):
    pages = [
        url("ui:dashboard"), url("ui:items"), url("ui:items") + "?q=lamp", url("ui:item", demo_shop["item"]),
        url("ui:upload"), url("ui:rules"), url("ui:rules") + f"?p-user={demo_shop['user']}", url("ui:rule-new"),
        url("ui:models"), url("ui:model", 8), url("ui:model-status", 8), url("ui:privacy"), url("ui:keys"),
        url("ui:explorer"), url("ui:explorer") + f"?user={demo_shop['user']}",
    ]
    for page in pages:
        owner.get(page)  # warm: lazy imports, serving caches
        with CaptureQueriesContext(connection) as queries:
            response = owner.get(page)
        assert response.status_code == 200, page
        assert len(queries) <= MAX_QUERIES, (page, len(queries))
