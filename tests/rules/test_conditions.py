"""What a condition matches: each field and op, missing values, and combinations."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from reranking.rules import compile_condition, describe, matches, validate_rule
from tests.rules.helpers import NOW, item, when


def check(condition: dict, candidate) -> bool:
    """matches() on the validated condition; the compiled predicate serving uses must answer the same."""
    cleaned = validate_rule("filter", {"when": condition})["when"]
    expected = matches(cleaned, candidate, NOW)
    assert compile_condition(cleaned)(candidate, NOW) is expected
    return expected


BOOK = item(
    "b1", 1.0, category="Books", tags=["new", "sale"], price=12.5, available=True,
    attributes={"brand": "Acme", "pages": 320, "colors": ["red", "blue"], "signed": True, "blurb": "a tale"},
    created_at=NOW - timedelta(days=3),
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (when("item_id", "eq", "b1"), True),
        (when("item_id", "in", ["x", "b1"]), True),
        (when("category", "eq", "Books"), True),
        (when("category", "ne", "Books"), False),
        (when("category", "eq", "books"), False),  # case matters: categories are ids, not prose
        (when("category", "not_in", ["Music", "Film"]), True),
        (when("tags", "contains", "sale"), True),
        (when("tags", "contains", "used"), False),
        (when("tags", "in", ["used", "new"]), True),
        (when("tags", "not_in", ["used", "new"]), False),
        (when("available", "eq", False), False),
        (when("available", "ne", False), True),
        (when("price", "lt", 12.5), False),
        (when("price", "lte", 12.5), True),
        (when("price", "between", [10, 12.5]), True),  # inclusive
        (when("price", "between", [12.6, 20]), False),
        (when("age_days", "lte", 3), True),
        (when("age_days", "gt", 2.9), True),
        (when("age_days", "between", [0, 2]), False),
        (when("attributes.brand", "eq", "Acme"), True),
        (when("attributes.pages", "gte", 300), True),
        (when("attributes.pages", "in", [100, 320]), True),
        (when("attributes.colors", "contains", "red"), True),
        (when("attributes.blurb", "contains", "tale"), True),
        (when("attributes.signed", "eq", True), True),
        (when("attributes.signed", "eq", 1), False),  # true never equals 1
        (when("attributes.brand", "gt", 3), False),  # ordering a string is false, not an error
    ],
)
def test_each_field_and_op_matches_as_documented(condition, expected):
    assert check(condition, BOOK) is expected


@pytest.mark.parametrize(
    "condition",
    [
        when("price", "lt", 100),
        when("price", "ne", 5),
        when("age_days", "gte", 0),
        when("attributes.brand", "ne", "Acme"),
        when("attributes.brand", "not_in", ["Acme"]),
    ],
)
def test_a_condition_on_a_missing_value_is_false_whatever_the_op(condition):
    bare = item("x", 1.0)
    assert check(condition, bare) is False
    assert check({"not": condition}, bare) is True


def test_all_any_and_not_combine():
    cheap_book = {"all": [when("category", "eq", "Books"), when("price", "lt", 20)]}
    assert check(cheap_book, BOOK)
    assert not check({"not": cheap_book}, BOOK)
    assert check({"any": [when("category", "eq", "Film"), when("tags", "contains", "new")]}, BOOK)
    assert not check({"any": [when("category", "eq", "Film"), when("tags", "contains", "used")]}, BOOK)


def test_a_naive_created_at_is_read_as_utc():
    naive = item("n", 1.0, created_at=(NOW - timedelta(days=10)).replace(tzinfo=None))
    assert check(when("age_days", "between", [9.99, 10.01]), naive)
    assert isinstance(naive.created_at, datetime)


def test_describe_reads_as_one_line():
    text = describe({"all": [when("category", "in", ["Books"]), {"not": when("available", "eq", True)}]})
    assert text == "(category in ['Books'] and not available eq True)"
