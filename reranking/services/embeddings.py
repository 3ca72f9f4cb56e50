"""Keep each item's text embedding current: only items whose text changed are re-encoded."""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from django.core.cache import cache
from django.db import transaction

from reranking.ml.text import EMBEDDING_DIM, embed_with_cache
from reranking.models import Item, ItemEmbedding
from tenants.models import Tenant

log = logging.getLogger(__name__)
# Upserts within this many seconds share one embedding run: a catalogue import of many batches, or a
# merchandiser's edits, queue one task, not one per request.
EMBED_DELAY = 5


def queued_key(tenant_id: int) -> str:
    return f"recs:embed-queued:{tenant_id}"


def request_embedding(tenant_id: int) -> bool:
    """Queue one run of worker.tasks.embed_items for the tenant EMBED_DELAY seconds from now, unless one
    is queued already; return whether this call queued it. Never fails the caller (an upsert): with
    the broker down the items are embedded by the next run (a later upsert, or training).
    """
    try:
        if not cache.add(queued_key(tenant_id), 1, EMBED_DELAY + 600):
            return False
    except Exception:  # noqa: BLE001 - no cache: queue without debouncing
        pass
    from celery import current_app

    try:
        current_app.send_task("worker.tasks.embed_items", args=[tenant_id], countdown=EMBED_DELAY, retry=False)
    except Exception as exc:  # noqa: BLE001 - any broker error
        log.warning("could not queue embedding for tenant %s: %s", tenant_id, exc)
        cache.delete(queued_key(tenant_id))
        return False
    return True


def embed_queued(tenant: Tenant) -> int:
    """Run a queued embedding (the debounced task): upserts from now on queue the next run."""
    cache.delete(queued_key(tenant.pk))
    _, recomputed = embed_items(tenant)
    return len(recomputed)


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
