"""Data shared by the view tests and the browser tests."""
from __future__ import annotations


def load_events(tenant) -> None:
    """Store a few interactions of ann and ben on the `catalogue` items (popularity: sku-2 > sku-1 > sku-3)."""
    from reranking.services.ingest import ingest_events

    rows = [
        {"user_id": "ann", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-01-01T10:00:00Z"},
        {"user_id": "ann", "item_id": "sku-2", "event_type": "click", "timestamp": "2026-01-01T10:05:00Z"},
        {"user_id": "ann", "item_id": "sku-2", "event_type": "add_to_cart", "timestamp": "2026-01-01T10:06:00Z"},
        {"user_id": "ben", "item_id": "sku-2", "event_type": "purchase", "timestamp": "2026-01-02T09:00:00Z"},
        {"user_id": "ben", "item_id": "sku-3", "event_type": "view", "timestamp": "2026-01-02T09:01:00Z"},
        {"user_id": "ben", "item_id": "sku-1", "event_type": "view", "timestamp": "2026-01-02T09:02:00Z"},
    ]
    assert ingest_events(tenant, rows).stored == len(rows)
