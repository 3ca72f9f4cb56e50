"""Keep each item's text embedding current: only items whose text changed are re-encoded."""
from __future__ import annotations

import hashlib
import logging
from typing import Callable

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from reranking.ml.text import EMBEDDING_DIM, TextEncoder, embed_with_cache
from reranking.models import Item, ItemEmbedding
from tenants.models import Tenant

from . import chunks

log = logging.getLogger(__name__)
# Upserts within this many seconds share one embedding run: a catalogue import of many batches, or a
# merchandiser's edits, queue one task, not one per request.
EMBED_DELAY = 5
CHUNK_CLAIM_SECONDS = 900  # a chunk of 5,000 texts takes ~2 min on 2 busy cores; a dead worker's is re-taken after this


def encoder() -> TextEncoder:
    """Return this process's MiniLM encoder: int8 on CPU when settings.RECS_EMBED_INT8 is on, else float32."""
    return TextEncoder.shared(int8=settings.RECS_EMBED_INT8)


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
    _, recomputed = embed_items(tenant, share=True)  # a large import's texts: every idle worker helps
    return len(recomputed)


TEXT_FIELDS = ("id", "external_id", "title", "category", "tags", "description")  # what Item.text reads
WRITE_BATCH = 1000


def live_items(tenant: Tenant) -> list[Item]:
    """Return the tenant's live items in id order, with only the fields training reads (id, text) loaded:
    whole rows (attributes, prices, ...) of a 100k-item catalogue held a few hundred MiB through a run.
    """
    return list(Item.objects.for_tenant(tenant).filter(is_deleted=False).order_by("id").only(*TEXT_FIELDS))


def _stored(tenant: Tenant, items: list[Item] | None = None) -> dict[str, tuple[str, np.ndarray]]:
    rows = ItemEmbedding.objects.for_tenant(tenant)
    if items is not None:
        rows = rows.filter(item__in=[item.pk for item in items])
    return {
        item_id: (text_hash, np.frombuffer(bytes(vector), dtype=np.float32))
        for item_id, text_hash, vector in rows.values_list("item__external_id", "text_hash", "vector").iterator(
            chunk_size=WRITE_BATCH)
    }


def _save(tenant: Tenant, items: list[Item], recomputed: list[str], stored: dict[str, tuple[str, np.ndarray]]) -> None:
    by_external = {item.external_id: item for item in items}
    rows = [by_external[item_id] for item_id in recomputed]
    with transaction.atomic():  # in batches: one row object per vector for 100k items was ~300 MiB
        for start in range(0, len(rows), WRITE_BATCH):
            batch = rows[start:start + WRITE_BATCH]
            ItemEmbedding.objects.for_tenant(tenant).filter(item__in=batch).delete()
            ItemEmbedding.objects.bulk_create([
                ItemEmbedding(
                    tenant=tenant,
                    item=item,
                    text_hash=stored[item.external_id][0],
                    vector=stored[item.external_id][1].astype(np.float32).tobytes(),
                )
                for item in batch
            ])


def embed_items(
    tenant: Tenant, items: list[Item] | None = None, progress: Callable[[float], None] | None = None,
    *, share: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Return the (N, 384) embeddings of the items (in order) and the external ids re-encoded.

    Loads MiniLM only when some text changed; stores the new vectors. With `share` (the training task)
    and more than RECS_EMBED_CHUNK_ITEMS stale items, the stale items are cut into chunks that idle
    workers take too (embed_chunks), so two workers about halve a large catalogue's first embedding.
    """
    items = live_items(tenant) if items is None else items
    stored = _stored(tenant)
    ids, texts = [item.external_id for item in items], [item.text for item in items]
    shared: list[str] = []
    if share:
        key = encoder().key
        stale = [item for item, text in zip(items, texts) if stored.get(item.external_id, ("", None))[0] != key(text)]
        if len(stale) > settings.RECS_EMBED_CHUNK_ITEMS:
            embed_chunks(tenant, stale, progress)
            stored, shared = _stored(tenant), [item.external_id for item in stale]
    matrix, recomputed = embed_with_cache(ids, texts, stored, encoder(), progress=progress)
    if recomputed:
        _save(tenant, items, recomputed, stored)
    assert matrix.shape == (len(items), EMBEDDING_DIM), "one embedding row per item"
    return matrix, list(dict.fromkeys(shared + recomputed))


def chunk_key(tenant_id: int, item_pks: list[int]) -> str:
    digest = hashlib.sha256(",".join(map(str, item_pks)).encode()).hexdigest()[:16]
    return f"recs:embed-chunk:{tenant_id}:{digest}"


def embed_chunk(tenant_id: int, item_pks: list[int], *, claimed: bool = False) -> int:
    """Embed the stale ones of these items under the chunk's claim; return how many were (0: claimed by another).

    Idempotent: items deleted or already current are skipped. A claim expires after CHUNK_CLAIM_SECONDS,
    so a chunk whose worker died is taken again.
    """
    if not claimed and not cache.add(chunk_key(tenant_id, item_pks), 1, CHUNK_CLAIM_SECONDS):
        return 0
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return 0
    items = list(Item.objects.for_tenant(tenant).filter(pk__in=item_pks, is_deleted=False).order_by("id")
                 .only(*TEXT_FIELDS))
    stored = _stored(tenant, items)
    _, recomputed = embed_with_cache([i.external_id for i in items], [i.text for i in items], stored, encoder())
    if recomputed:
        _save(tenant, items, recomputed, stored)
    return len(recomputed)


def _chunk_done(tenant: Tenant, items: list[Item]) -> bool:
    current = dict(ItemEmbedding.objects.for_tenant(tenant).filter(item__in=[i.pk for i in items])
                   .values_list("item_id", "text_hash"))
    key = encoder().key
    return all(current.get(item.pk) == key(item.text) for item in items)


def embed_chunks(tenant: Tenant, stale: list[Item], progress: Callable[[float], None] | None = None) -> None:
    """Embed `stale` items in chunks that other workers may take (worker.tasks.embed_chunk); return when all are stored.

    This process takes unclaimed chunks itself, so it never waits on a queue no worker serves; it only
    waits for chunks another worker is embedding (polling the table), or re-takes them once their claim expires.
    """
    size = settings.RECS_EMBED_CHUNK_ITEMS
    chunks.share(
        "worker.tasks.embed_chunk", [stale[i:i + size] for i in range(0, len(stale), size)],
        args=lambda chunk: [tenant.pk, [i.pk for i in chunk]],
        claim=lambda chunk: chunk_key(tenant.pk, [i.pk for i in chunk]), claim_seconds=CHUNK_CLAIM_SECONDS,
        take=lambda chunk: embed_chunk(tenant.pk, [i.pk for i in chunk], claimed=True),
        finished=lambda chunk: _chunk_done(tenant, chunk), progress=progress,
    )
