"""A web process loads each model artifact once, even when its threads ask for it at the same time."""
from __future__ import annotations

import shutil
import threading
import time

from reranking.ml.artifact import Reranker
from reranking.services import precompute


def test_threads_asking_for_a_model_at_once_load_it_once(trained_artifact, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    shutil.copytree(trained_artifact, tmp_path / "models" / "v1")
    loads = []
    original = Reranker.load.__func__

    def slow_load(cls, directory, device="cpu"):
        loads.append(directory)
        time.sleep(0.2)  # the others ask while this one reads
        return original(cls, directory, device)

    monkeypatch.setattr(Reranker, "load", classmethod(slow_load))
    barrier = threading.Barrier(4)
    got: list = []

    def ask() -> None:
        barrier.wait()
        got.append(precompute.load_model("models/v1"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(loads) == 1 and len(got) == 4 and all(model is got[0] for model in got)


def test_a_process_keeps_the_most_recently_used_models(trained_artifact, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    loads = []
    monkeypatch.setattr(Reranker, "load", classmethod(lambda cls, directory, device="cpu": loads.append(directory) or object()))
    for n in range(precompute.MODELS_KEPT + 1):
        shutil.copytree(trained_artifact, tmp_path / "models" / f"v{n}")
    first = precompute.load_model("models/v0")
    for n in range(1, precompute.MODELS_KEPT):
        precompute.load_model(f"models/v{n}")
    assert precompute.load_model("models/v0") is first  # used again: now the most recent
    precompute.load_model(f"models/v{precompute.MODELS_KEPT}")  # drops v1, the least recently used
    assert precompute.load_model("models/v0") is first
    precompute.load_model("models/v1")
    assert len(loads) == precompute.MODELS_KEPT + 2
