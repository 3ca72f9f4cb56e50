"""Loading arrays and files, and the leave-last-out split."""
from __future__ import annotations

import numpy as np

from reranking.ml.data import Dataset, leave_last_out, load_generic_csv, load_movielens


def test_it_drops_and_counts_events_on_unknown_items():
    ds = Dataset.from_arrays(["a", "b"], ["A", "B"], ["u", "u", "v"], ["a", "zz", "b"], [1, 2, 3])
    assert ds.n_dropped == 1
    assert ds.user_ids == ["u", "v"]
    assert ds.event_items.tolist() == [0, 1]


def test_split_orders_by_time_and_keeps_input_order_on_ties():
    ds = Dataset.from_arrays(["a", "b", "c", "d"], list("ABCD"),
                             ["u"] * 4 + ["v"] * 2, ["d", "a", "b", "c", "a", "b"], [5, 1, 1, 1, 1, 2])
    split = leave_last_out(ds)
    u = ds.user_ids.index("u")
    assert ds.event_items[split.sequences[u]].tolist() == [0, 1, 2, 3]  # a, b, c (tie, input order), then d
    assert ds.event_items[split.target(u, "test")] == 3
    assert ds.event_items[split.target(u, "val")] == 2
    assert ds.event_items[split.history(u, "val")].tolist() == [0, 1]
    assert ds.event_items[split.history(u, "test")].tolist() == [0, 1, 2]
    assert split.n_left_out == 1  # v has 2 events: trains, but is not evaluated
    assert len(split.history(ds.user_ids.index("v"), "val")) == 2


def test_it_loads_both_movielens_layouts_and_generic_csv(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    (small / "movies.csv").write_text('movieId,title,genres\n1,"Heat (1995)",Action|Crime\n2,Up (2009),Animation\n')
    (small / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,3.0,20\n2,3,1.0,5\n")
    (small / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,heist,10\n")
    ds = load_movielens(str(small))
    assert ds.item_texts[0] == "Heat (1995). Action, Crime. heist"
    assert (ds.n_items, len(ds.event_items), ds.n_dropped) == (2, 2, 1)

    old = tmp_path / "old"
    old.mkdir()
    (old / "u.item").write_text("1|Toy Story (1995)|01-Jan-1995||http://x|0|1\n2|GoldenEye (1995)|01-Jan-1995||http://x|1|0\n",
                                encoding="latin-1")
    (old / "u.genre").write_text("Action|0\nAnimation|1\n")
    (old / "u.data").write_text("1\t1\t5\t100\n1\t2\t3\t50\n")
    ds = load_movielens(str(old))
    assert ds.item_texts == ["Toy Story (1995). Animation", "GoldenEye (1995). Action"]
    assert ds.timestamps.tolist() == [100.0, 50.0]

    (tmp_path / "items.csv").write_text("item_id,title,description,category,tags,price\nx,Shoe,Red shoe,Shoes,red|summer,9\ny,Hat,,Hats,,5\n")
    (tmp_path / "events.csv").write_text("user_id,item_id,timestamp,event_type,value\nu,x,2024-01-01T00:00:00Z,view,\nu,y,1700000000,purchase,2\n")
    ds = load_generic_csv(str(tmp_path / "events.csv"), str(tmp_path / "items.csv"))
    assert ds.item_texts[0] == "Shoe. Shoes. red, summer. Red shoe"
    assert ds.event_type_names == ["interaction", "view", "purchase"]
    assert np.allclose(ds.values, [1.0, 2.0])
