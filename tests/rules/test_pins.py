"""Pins put an item at a position, last of all; conflicts have documented outcomes."""
from __future__ import annotations

from tests.rules.helpers import ids, rule, run, scored, when


def pin(item_id: str, position: int, **fields):
    return rule("pin", {"item_id": item_id, "position": position}, **fields)


def test_a_pin_moves_the_item_and_the_others_keep_their_order():
    out = run(scored("a", "b", "c", "d"), [pin("d", 2, name="Hero")])
    assert ids(out) == ["a", "d", "b", "c"]
    [effect] = out.items[1].effects
    assert (effect.kind, effect.rule_name, effect.detail) == ("pin", "Hero", "pinned to 2, moved 4 -> 2")
    assert (effect.from_position, effect.to_position, effect.delta) == (4, 2, None)
    assert not out.items[2].effects  # only displaced by one slot: not a rule's doing


def test_a_pin_to_where_the_item_already_is_says_so():
    out = run(scored("a", "b"), [pin("a", 1)])
    assert out.items[0].effects[0].detail == "pinned to 1 (already there)"


def test_two_pins_for_one_slot_the_higher_priority_takes_it_and_the_other_the_next_free_slot():
    high = pin("d", 1, priority=10, name="Campaign")
    low = pin("c", 1, priority=1, name="Editor")
    out = run(scored("a", "b", "c", "d", "e"), [low, high])
    assert ids(out) == ["d", "c", "a", "b", "e"]
    assert out.items[1].effects[0].detail == "pinned to 2 (asked 1: slot 1 taken by rule 'Campaign'), moved 3 -> 2"
    assert out.not_applied == []


def test_with_equal_priorities_the_pin_given_first_wins_the_slot():
    out = run(scored("a", "b", "c", "d"), [pin("c", 1), pin("d", 1)])
    assert ids(out)[:2] == ["c", "d"]


def test_a_displaced_pin_skips_every_taken_slot():
    rules = [pin("e", 2, priority=3), pin("d", 3, priority=2), pin("c", 2, priority=1)]
    out = run(scored("a", "b", "c", "d", "e"), rules)
    assert ids(out) == ["a", "e", "d", "c", "b"]


def test_when_every_later_slot_is_taken_a_displaced_pin_takes_the_nearest_earlier_one():
    out = run(scored("a", "b", "c"), [pin("a", 3, priority=2), pin("b", 3, priority=1)])
    assert ids(out) == ["c", "b", "a"]


def test_a_pin_beyond_the_end_of_the_list_places_the_item_last():
    out = run(scored("a", "b", "c"), [pin("a", 50)])
    assert ids(out) == ["b", "c", "a"]
    assert out.items[2].effects[0].detail == "pinned to 3 (asked 50: the list has 3 items), moved 1 -> 3"


def test_a_pinned_item_that_a_filter_removed_stays_removed_and_the_pin_is_reported():
    items = scored("a", "b", "c")
    items[2].available = False
    gone = rule("filter", {"when": when("available", "eq", False)}, name="Unavailable")
    hero = pin("c", 1, name="Hero")
    out = run(items, [hero, gone])
    assert ids(out) == ["a", "b"]
    assert [i for i, _ in out.removed] == ["c"]
    [note] = out.not_applied
    assert (note.rule_id, note.kind) == (hero.id, "pin")
    assert note.detail == "not applied: 'c' was removed by filter 'Unavailable'"


def test_a_pin_for_an_item_absent_from_the_candidates_is_ignored_and_reported():
    hero = pin("zzz", 1)
    out = run(scored("a", "b"), [hero])
    assert ids(out) == ["a", "b"]
    assert [n.detail for n in out.not_applied] == ["not applied: 'zzz' is not in the candidate list"]


def test_an_item_pinned_twice_keeps_the_higher_priority_pin():
    first = pin("c", 1, priority=5, name="First")
    second = pin("c", 2, priority=1, name="Second")
    out = run(scored("a", "b", "c"), [second, first])
    assert ids(out) == ["c", "a", "b"]
    assert [(n.rule_id, n.detail) for n in out.not_applied] == [
        (second.id, "not applied: 'c' is already pinned by rule 'First'")
    ]


def test_pins_count_positions_in_the_whole_list_before_it_is_cut_to_k():
    items = scored("a", "b", "c", "d", "e", "f")
    assert ids(run(items, [pin("f", 2)], k=3)) == ["a", "f", "b"]
    assert ids(run(items, [pin("f", 5)], k=3)) == ["a", "b", "c"]  # applied, but below the cut
