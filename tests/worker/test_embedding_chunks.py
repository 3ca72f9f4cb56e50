"""A large catalogue's first embedding is cut into chunks idle workers can take; the result is the same."""
from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache

from reranking.models import Item, ItemEmbedding
from reranking.services import chunks, embeddings
from reranking.services.embeddings import chunk_key, embed_items
from worker.tasks import embed_chunk

pytestmark = [pytest.mark.django_db, pytest.mark.slow]



def test_stale_items_are_offered_in_chunks_and_embedded_once(shop, sent_tasks, settings):
    settings.RECS_EMBED_CHUNK_ITEMS = 4
    n_items = Item.objects.for_tenant(shop.tenant).filter(is_deleted=False).count()
    matrix, recomputed = embed_items(shop.tenant, share=True)
    assert len(recomputed) == n_items == ItemEmbedding.objects.for_tenant(shop.tenant).count()
    offered = [kw["args"][1] for name, kw in sent_tasks if name == "worker.tasks.embed_chunk"]
    assert len(offered) == -(-n_items // 4) - 1  # every chunk but the first, which the trainer takes at once
    assert all(embed_chunk(shop.tenant.pk, pks) == 0 for pks in offered)  # done already: a late worker is a no-op
    cache.clear()
    alone, _ = embed_items(shop.tenant)  # the same vectors as without chunks
    assert np.allclose(matrix, alone)


def test_the_trainer_waits_for_a_chunk_another_worker_holds(shop, sent_tasks, settings, monkeypatch):
    settings.RECS_EMBED_CHUNK_ITEMS = 4
    items = embeddings.live_items(shop.tenant)
    held = items[4:8]
    cache.add(chunk_key(shop.tenant.pk, [i.pk for i in held]), 1, 3600)  # another worker took chunk 2
    waits = []

    def other_worker_finishes(seconds):  # while the trainer waits, the other worker stores its chunk
        waits.append(seconds)
        embeddings.embed_chunk(shop.tenant.pk, [i.pk for i in held], claimed=True)

    monkeypatch.setattr(chunks.time, "sleep", other_worker_finishes)
    matrix, _ = embed_items(shop.tenant, items, share=True)
    assert len(waits) == 1 and ItemEmbedding.objects.for_tenant(shop.tenant).count() == len(items)
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-4)
