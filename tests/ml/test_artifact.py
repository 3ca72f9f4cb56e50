"""A saved version scores identically in a fresh process that has nothing but the folder."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from reranking.ml.artifact import History, Reranker
from reranking.ml.train import TrainResult

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = """
import json, sys
from reranking.ml.artifact import History, Reranker
model = Reranker.load(sys.argv[1])
recs = model.recommend([History(["i3_4", "i3_5"], [1.0, 2.0]), History([])], k=20)
live = model.rerank(History(["i0_1"]), ["i0_2", "i0_3", "i7_7"])
print(json.dumps({"recs": recs, "live": live}))
"""


def test_save_load_round_trip_gives_identical_scores_in_a_fresh_process(trained: TrainResult, tmp_path):
    trained.model.save(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["item_ids"] == trained.model.item_ids and meta["config"]["n_candidates"] == 50
    expected_recs = trained.model.recommend([History(["i3_4", "i3_5"], [1.0, 2.0]), History([])], k=20)
    expected_live = trained.model.rerank(History(["i0_1"]), ["i0_2", "i0_3", "i7_7"])

    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, timeout=120, check=True)
    got = json.loads(out.stdout)
    assert got["recs"] == [[list(p) for p in r] for r in expected_recs]
    assert got["live"] == [list(p) for p in expected_live]


def test_reranking_ml_never_imports_django():
    code = "import sys, reranking.ml.train, reranking.ml.evaluate; print('django' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT}, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_loaded_model_matches_in_process(trained: TrainResult, tmp_path):
    trained.model.save(str(tmp_path))
    loaded = Reranker.load(str(tmp_path))
    h = [History(["i5_1", "i5_2", "i5_3"], [1, 2, 3], ["interaction"] * 3)]
    assert loaded.recommend(h, k=10) == trained.model.recommend(h, k=10)
