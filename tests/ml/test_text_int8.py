"""MiniLM in int8 on CPU: off by default, switched by RECS_EMBED_INT8, and close to the float32 vectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reranking.ml.text import TextEncoder

TEXTS = [
    "Toy Story 2 (1999). Animation, Children, Comedy",
    "Schindler's List (1993). Drama, War",
    "Amélie (Le Fabuleux destin d'Amélie Poulain) (2001). Comedy, Romance",
    "Swift Shoes S12 Max. Sports. running, yoga. A swift shoes s12 for fitness lovers. Part 3 of the Swift Shoes S12 line.",
    "Rose Serum B4 Refill. Beauty. vegan, organic. A rose serum b4 for skincare lovers. Part 5 of the Rose Serum B4 line.",
    "Gloves",
]


def quantized_linears(encoder: TextEncoder) -> int:
    encoder.encode(["load"])
    return sum(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in encoder._model.modules())


def test_int8_vectors_stay_close_to_float32():
    fp32, int8 = TextEncoder(int8=False).encode(TEXTS), TextEncoder(int8=True).encode(TEXTS)
    assert int8.shape == (len(TEXTS), 384) and int8.dtype == np.float32
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    cosine = (fp32 * int8).sum(1)
    assert cosine.min() > 0.98, cosine
    # Text neighbours come from these similarities: each pair's moves by little.
    assert np.abs(int8 @ int8.T - fp32 @ fp32.T).max() < 0.03


def test_cpu_encoders_are_float32_unless_int8_is_turned_on(monkeypatch):
    monkeypatch.delenv("RECS_EMBED_INT8", raising=False)
    assert not TextEncoder().int8 and TextEncoder().variant == "fp32"
    monkeypatch.setenv("RECS_EMBED_INT8", "1")
    assert TextEncoder().int8 and TextEncoder().variant == "int8"
    assert not TextEncoder(int8=False).int8  # an explicit choice wins over the environment


def test_a_gpu_encoder_stays_float():
    assert not TextEncoder(device="cuda", int8=True).int8


def test_only_the_int8_encoder_runs_quantised_layers():
    assert quantized_linears(TextEncoder(int8=True)) == 36  # 6 layers x (q, k, v, attention out, FFN in, FFN out)
    assert quantized_linears(TextEncoder(int8=False)) == 0


def test_shared_encoders_are_one_per_variant():
    assert TextEncoder.shared(int8=True) is TextEncoder.shared(int8=True)
    assert TextEncoder.shared(int8=True) is not TextEncoder.shared(int8=False)
    assert TextEncoder.shared(int8=False).variant == "fp32"


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("0", False), ("false", False), ("off", False)])
def test_the_environment_variable_reads_like_a_django_bool(monkeypatch, value, expected):
    monkeypatch.setenv("RECS_EMBED_INT8", value)
    assert TextEncoder().int8 is expected
