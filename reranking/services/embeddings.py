"""Keep each item's text embedding current: only items whose text changed are re-encoded."""
from __future__ import annotations

from typing import Callable

import numpy as np
from django.db import transaction

from reranking.ml.text import EMBEDDING_DIM, embed_with_cache
from reranking.models import Item, ItemEmbedding
from tenants.models import Tenant


def live_items(tenant: Tenant) -> list[Item]:
    return list(Item.objects.for_tenant(tenant).filter(is_deleted=False).order_by("id"))


def embed_items(
    tenant: Tenant, items: list[Item] | None = None, progress: Callable[[float], None] | None = None
) -> tuple[np.ndarray, list[str]]:
    """Return the (N, 384) embeddings of the items (in order) and the external ids re-encoded.

    Loads MiniLM only when some text changed; stores the new vectors in one transaction.
    """
    items = live_items(tenant) if items is None else items
    stored = {
        item_id: (text_hash, np.frombuffer(bytes(vector), dtype=np.float32))
        for item_id, text_hash, vector in ItemEmbedding.objects.for_tenant(tenant).values_list(
            "item__external_id", "text_hash", "vector"
        )
    }
    ids = [item.external_id for item in items]
    matrix, recomputed = embed_with_cache(ids, [item.text for item in items], stored, progress=progress)
    if recomputed:
        by_external = {item.external_id: item for item in items}
        with transaction.atomic():
            rows = [by_external[item_id] for item_id in recomputed]
            ItemEmbedding.objects.for_tenant(tenant).filter(item__in=rows).delete()
            ItemEmbedding.objects.bulk_create(
                [
                    ItemEmbedding(
                        tenant=tenant,
                        item=item,
                        text_hash=stored[item.external_id][0],
                        vector=stored[item.external_id][1].astype(np.float32).tobytes(),
                    )
                    for item in rows
                ],
                batch_size=1000,
            )
    assert matrix.shape == (len(items), EMBEDDING_DIM), "one embedding row per item"
    return matrix, recomputed
