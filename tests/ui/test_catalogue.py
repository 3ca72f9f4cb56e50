"""The item list (search, category filter, pagination) and item detail."""
from __future__ import annotations

import pytest

from reranking.services.catalogue import upsert_items

pytestmark = pytest.mark.django_db


def test_it_lists_and_searches_items(owner, url, catalogue):
    html = owner.get(url("ui:items")).content.decode()
    assert all(f">{item_id}<" in html for item_id in catalogue)
    html = owner.get(url("ui:items"), {"q": "item 3"}).content.decode()
    assert ">sku-3<" in html and ">sku-1<" not in html
    html = owner.get(url("ui:items"), {"category": "games"}).content.decode()
    assert ">sku-2<" in html and ">sku-1<" not in html


def test_it_paginates(owner, url, alice):
    upsert_items(alice.tenant, [{"item_id": f"p-{n:03d}", "title": f"P {n}"} for n in range(120)])
    first = owner.get(url("ui:items")).content.decode()
    assert "Page 1 of 3" in first and ">p-049<" in first and ">p-050<" not in first
    third = owner.get(url("ui:items"), {"page": 3}).content.decode()
    assert ">p-119<" in third
    assert owner.get(url("ui:items"), {"page": 9}).status_code == 404


def test_deleted_items_are_not_listed(owner, url, alice, catalogue):
    from reranking.models import Item
    from reranking.services.catalogue import soft_delete_item

    soft_delete_item(Item.objects.get(tenant=alice.tenant, external_id="sku-1"))
    assert ">sku-1<" not in owner.get(url("ui:items")).content.decode()


def test_item_detail_shows_fields_and_interactions(owner, url, events):
    html = owner.get(url("ui:item", "sku-2")).content.decode()
    assert "Item 2" in html and "games" in html
    assert "purchase" in html and "click" in html and "ben" in html


def test_an_item_id_with_dots_and_spaces_has_a_page(owner, url, alice):
    # Ingest refuses '/' in ids (docs/serving-live.md): an id must be one URL path segment.
    upsert_items(alice.tenant, [{"item_id": "shoes.red 42", "title": "Red shoes"}])
    assert "Red shoes" in owner.get(url("ui:item", "shoes.red 42")).content.decode()


def test_an_unknown_item_is_404(owner, url, catalogue):
    assert owner.get(url("ui:item", "nope")).status_code == 404


def test_another_tenants_item_is_404(owner, url, charlie):
    upsert_items(charlie.tenant, [{"item_id": "charlies-item", "title": "Secret"}])
    assert owner.get(url("ui:item", "charlies-item")).status_code == 404
    assert "charlies-item" not in owner.get(url("ui:items"), {"q": "charlie"}).content.decode()


def test_the_list_runs_a_fixed_number_of_queries(owner, url, catalogue, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        owner.get(url("ui:items"))
