"""Row validation shared by the API, CSV upload and import commands: pure functions, no database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from reranking.services.rows import NUL_MESSAGE, clean_event, clean_item, parse_bool, parse_timestamp

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
TYPES = {"view", "click", "rating"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, NOW),
        ("", NOW),
        (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        (1767225600, datetime(2026, 1, 1, tzinfo=timezone.utc)),
        (1767225600.5, datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=timezone.utc)),
        ("1767225600", datetime(2026, 1, 1, tzinfo=timezone.utc)),
        ("2026-01-01T00:00:00Z", datetime(2026, 1, 1, tzinfo=timezone.utc)),
        ("2026-01-01T02:00:00+02:00", datetime(2026, 1, 1, tzinfo=timezone.utc)),
        ("2026-01-01 00:00:00", datetime(2026, 1, 1, tzinfo=timezone.utc)),  # naive means UTC
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=timezone.utc)),
        (" 2026-01-01T00:00:00Z ", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp_accepts_iso_8601_and_unix_seconds(value, expected):
    assert parse_timestamp(value, NOW) == expected


def test_parse_timestamp_tolerates_a_little_clock_drift():
    assert parse_timestamp((NOW + timedelta(hours=23)).isoformat(), NOW) == NOW + timedelta(hours=23)
    assert "future" in parse_timestamp((NOW + timedelta(hours=25)).isoformat(), NOW)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, "ISO 8601 string or Unix seconds"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (1e300, "out of range"),
        ("nan", "Not an ISO 8601"),
        ("1e400", "Not an ISO 8601"),
        ("2026-13-01", "Not an ISO 8601"),
        ("1969-12-31T23:59:59Z", "before 1970"),
        (-1, "before 1970"),
        ({"at": 1}, "ISO 8601 string or Unix seconds"),
    ],
)
def test_parse_timestamp_explains_what_it_refuses(value, words):
    message = parse_timestamp(value, NOW)
    assert isinstance(message, str) and words in message


def test_clean_event_fills_defaults():
    out = clean_event({"user_id": 7, "item_id": " sku-1 "}, TYPES, NOW)
    assert out.errors == {}
    assert out.values == {
        "user_id": "7", "item_id": "sku-1", "event_type": "view", "value": None, "timestamp": NOW,
        "session_id": "", "recommendation_id": "", "context": None,
    }


def test_clean_event_reports_the_unknown_field_first():
    out = clean_event({"user_id": "u", "item_id": "i", "zeta": 1, "alpha": 2}, TYPES, NOW)
    assert next(iter(out.errors)) == "alpha"


@pytest.mark.parametrize("value", [1, 2.5, "3", "4.5", "-1"])
def test_clean_event_reads_numbers_and_numeric_strings(value):
    assert clean_event({"user_id": "u", "item_id": "i", "value": value}, TYPES, NOW).values["value"] == float(value)


def test_clean_event_refuses_nul_anywhere_in_context():
    out = clean_event({"user_id": "u", "item_id": "i", "context": {"a": [{"b\x00": 1}]}}, TYPES, NOW)
    assert out.errors == {"context": NUL_MESSAGE}


def test_clean_item_normalises_values():
    out = clean_item({"item_id": 5, "title": " T ", "tags": "a| b |", "price": "3.456", "available": "no"})
    assert out.errors == {}
    assert out.values == {
        "item_id": "5", "title": "T", "tags": ["a", "b"], "price": Decimal("3.46"), "available": False,
    }


def test_clean_item_returns_only_the_fields_sent_and_null_clears():
    out = clean_item({"item_id": "a", "description": None, "tags": None, "price": None, "available": None})
    assert out.errors == {}
    assert out.values == {"item_id": "a", "description": "", "tags": [], "price": None, "available": True}
    assert clean_item({"item_id": "a", "title": None}).errors == {"title": "This field is required."}


@pytest.mark.parametrize("item_id", ["a/b", ".", "..", "tab\there", "nul\x00", "bell\x07", "del\x7f", "x" * 201])
def test_clean_item_refuses_ids_that_cannot_be_addressed(item_id):
    assert "item_id" in clean_item({"item_id": item_id, "title": "T"}).errors
    assert "user_id" in clean_event({"user_id": item_id, "item_id": "i"}, TYPES, NOW).errors


@pytest.mark.parametrize("item_id", ["a.b", "...", ".hidden", "ünï 🎉", "a b", "100%", "a+b", "a?b#c", "x" * 200])
def test_clean_item_accepts_ids_with_dots_spaces_and_unicode(item_id):
    assert clean_item({"item_id": item_id, "title": "T"}).errors == {}
    assert clean_event({"user_id": item_id, "item_id": "i"}, TYPES, NOW).errors == {}


def test_clean_item_splits_comma_tags_when_there_is_no_pipe():
    assert clean_item({"item_id": "a", "title": "T", "tags": "x, y"}).values["tags"] == ["x", "y"]


def test_clean_item_folds_unknown_keys_only_when_told():
    assert "colour" in clean_item({"item_id": "a", "title": "T", "colour": "red"}).errors
    assert clean_item({"item_id": "a", "title": "T", "colour": "red"}, strict_keys=False).errors == {}


@pytest.mark.parametrize("price", ["NaN", "Infinity", "1e10", "-0.01"])
def test_clean_item_refuses_prices_out_of_range(price):
    assert "price" in clean_item({"item_id": "a", "title": "T", "price": price}).errors


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (0, False), ("YES", True), ("f", False), ("", False), ("maybe", None), (2, None)],
)
def test_parse_bool(value, expected):
    assert parse_bool(value) is expected
