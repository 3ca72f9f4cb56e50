"""Stored item vectors are keyed by encoder variant: switching RECS_EMBED_INT8 re-embeds, never mixes."""
from __future__ import annotations

import numpy as np
import pytest

from reranking.models import ItemEmbedding
from reranking.services import embeddings
from reranking.services.embeddings import embed_items

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_setting_picks_the_encoder(settings):
    settings.RECS_EMBED_INT8 = False
    assert embeddings.encoder().variant == "fp32"
    settings.RECS_EMBED_INT8 = True
    assert embeddings.encoder().variant == "int8"


def test_switching_to_int8_re_embeds_every_stored_float32_vector(shop, settings):
    settings.RECS_EMBED_INT8 = False
    fp32, first = embed_items(shop.tenant)
    assert first and embed_items(shop.tenant)[1] == []  # float32 vectors are current
    settings.RECS_EMBED_INT8 = True
    int8, recomputed = embed_items(shop.tenant)
    assert sorted(recomputed) == sorted(first)  # none of the float32 vectors was served as int8
    assert embed_items(shop.tenant)[1] == []  # and the int8 ones are current now
    assert ItemEmbedding.objects.for_tenant(shop.tenant).count() == len(first)
    assert (fp32 * int8).sum(1).min() > 0.98
    settings.RECS_EMBED_INT8 = False
    back, recomputed = embed_items(shop.tenant)
    assert sorted(recomputed) == sorted(first) and np.allclose(back, fp32, atol=1e-5)
