"""Validate one incoming row (JSON object or CSV record) into clean field values.

Pure functions with no ORM: each returns the clean values and a {field: message} dict of errors, so
the API, CSV upload and import commands all refuse the same input with the same words.
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_ID = 200  # characters; user and item ids longer than this are refused (docs/serving-live.md)
MAX_TITLE = 500
MAX_CATEGORY = 200
# Clients' clocks drift; an event a little in the future is accepted, one far in it is an error.
FUTURE_TOLERANCE = timedelta(days=1)

# /items/<these> are endpoints, so an item with such an id could not be addressed as /items/{item_id}.
RESERVED_ITEM_IDS = {"bulk", "export", "upload"}
ITEM_KEYS = {"item_id", "title", "description", "category", "tags", "attributes", "price", "available"}
EVENT_KEYS = {
    "user_id", "item_id", "event_type", "value", "timestamp", "session_id", "event_id", "context",
    "recommendation_id",
}
# PostgreSQL stores no NUL character in text or jsonb; refusing it here keeps that from being a 500.
NUL_MESSAGE = "Must not contain NUL (\\u0000) characters."
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f", ""}


@dataclass
class RowError:
    index: int
    field: str
    message: str
    code: str = ""  # set when a machine should tell this refusal apart: "rate_limited" (retry later)

    def as_dict(self) -> dict:
        row = {"index": self.index, "field": self.field, "message": self.message}
        return {**row, "code": self.code} if self.code else row


@dataclass
class Cleaned:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def id_problem(text: str) -> str | None:
    """Return why `text` cannot be a user or item id, or None when it can.

    Such ids appear as one URL path segment (/users/{user_id}/export, /items/{item_id}), so an id with
    '/' or one that is '.' or '..' could be stored but never addressed again; control characters
    cannot be typed, logged or put in a URL safely. Checked at ingest and by every endpoint that takes
    an id, so each id ingest accepts can be fetched, exported and erased.
    """
    if not text:
        return "Must not be blank."
    if len(text) > MAX_ID:
        return f"At most {MAX_ID} characters."
    if "/" in text:
        return "Must not contain '/'."
    if text in (".", ".."):
        return "Must not be '.' or '..'."
    if any(unicodedata.category(char) == "Cc" for char in text):
        return "Must not contain control characters (such as NUL, tab or newline)."
    return None


def _identifier(value: Any, name: str, out: Cleaned, required: bool = True, addressable: bool = True) -> None:
    if value is None or value == "":
        if required:
            out.errors[name] = "This field is required."
        return
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        out.errors[name] = "Must be a string or an integer."
        return
    text = str(value).strip()
    problem = id_problem(text) if addressable else None
    if not text:
        out.errors[name] = "Must not be blank."
    elif "\x00" in text:
        out.errors[name] = NUL_MESSAGE
    elif len(text) > MAX_ID:
        out.errors[name] = f"At most {MAX_ID} characters."
    elif problem:
        out.errors[name] = problem
    else:
        out.values[name] = text


def _text(value: Any, name: str, out: Cleaned, max_length: int | None = None, required: bool = False) -> None:
    if value is None:
        value = ""
    if not isinstance(value, str):
        out.errors[name] = "Must be a string."
        return
    value = value.strip()
    if required and not value:
        out.errors[name] = "This field is required."
    elif max_length is not None and len(value) > max_length:
        out.errors[name] = f"At most {max_length} characters."
    elif "\x00" in value:
        out.errors[name] = NUL_MESSAGE
    else:
        out.values[name] = value


def has_nul(value: Any) -> bool:
    """Return whether any string in this JSON value, key or not, holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


# What a new item gets for a field its row leaves out, and what `null` sets on an existing one.
ITEM_DEFAULTS: dict[str, Any] = {
    "description": "", "category": "", "tags": [], "attributes": {}, "price": None, "available": True,
}


def clean_item(row: Any, *, strict_keys: bool = True) -> Cleaned:
    """Validate a catalogue row: `values` holds item_id and each field the row carries, cleaned.

    A field the row leaves out is absent from `values` (an update keeps its stored value; a new item
    gets ITEM_DEFAULTS); `null` is present and means the field's default (clears it). The title
    cannot be cleared. CSV callers pass strict_keys=False and fold extra columns into attributes.
    """
    out = Cleaned()
    if not isinstance(row, dict):
        out.errors["item"] = "Each item must be a JSON object."
        return out
    if strict_keys:
        unknown = sorted(set(row) - ITEM_KEYS)
        if unknown:
            out.errors[unknown[0]] = f"Unknown field; allowed: {', '.join(sorted(ITEM_KEYS))}."
    _identifier(row.get("item_id"), "item_id", out)
    if out.values.get("item_id") in RESERVED_ITEM_IDS:
        out.errors["item_id"] = f"{out.values.pop('item_id')!r} names an endpoint (/items/{{bulk,export,upload}}); choose another id."
    if "title" in row:
        _text(row["title"], "title", out, MAX_TITLE, required=True)
    for name, limit in (("description", None), ("category", MAX_CATEGORY)):
        if name in row:
            _text(row[name], name, out, limit)

    if "tags" in row:
        tags = row["tags"]
        if tags is None or tags == "":
            out.values["tags"] = []
        elif has_nul(tags):
            out.errors["tags"] = NUL_MESSAGE
        elif isinstance(tags, str):
            sep = "|" if "|" in tags else ","
            out.values["tags"] = [t.strip() for t in tags.split(sep) if t.strip()]
        elif isinstance(tags, list) and all(isinstance(t, str) for t in tags):
            out.values["tags"] = [t.strip() for t in tags if t.strip()]
        else:
            out.errors["tags"] = "Must be a list of strings or a '|'-separated string."

    if "attributes" in row:
        attributes = row["attributes"]
        if attributes is None:
            out.values["attributes"] = {}
        elif not isinstance(attributes, dict):
            out.errors["attributes"] = "Must be a JSON object."
        elif has_nul(attributes):
            out.errors["attributes"] = NUL_MESSAGE
        else:
            out.values["attributes"] = attributes

    if "price" in row:
        price = row["price"]
        if price is None or price == "":
            out.values["price"] = None
        elif isinstance(price, bool):
            out.errors["price"] = "Must be a number."
        else:
            try:
                amount = Decimal(str(price).strip())
            except InvalidOperation:
                out.errors["price"] = "Must be a number."
            else:
                if not amount.is_finite() or amount < 0 or amount >= Decimal("1e10"):
                    out.errors["price"] = "Must be a non-negative number below 10,000,000,000."
                else:
                    out.values["price"] = amount.quantize(Decimal("0.01"))

    if "available" in row:
        available = row["available"]
        parsed = True if available is None else parse_bool(available)
        if parsed is None:
            out.errors["available"] = "Must be true or false."
        else:
            out.values["available"] = parsed
    return out


def parse_timestamp(value: Any, now: datetime) -> datetime | str:
    """Return an aware datetime, or an error message. Accepts ISO 8601 or Unix seconds."""
    if value is None or value == "":
        return now
    if isinstance(value, bool):
        return "Must be an ISO 8601 string or Unix seconds."
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            return "Must be a finite number."
        try:
            moment = datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return "Unix seconds out of range."
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            try:
                moment = datetime.fromtimestamp(float(text), tz=timezone.utc)
            except (ValueError, OverflowError, OSError):
                return f"Not an ISO 8601 timestamp or Unix seconds: {text[:40]!r}."
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    else:
        return "Must be an ISO 8601 string or Unix seconds."
    if moment.year < 1970:
        return "Timestamp is before 1970."
    if moment > now + FUTURE_TOLERANCE:
        return "Timestamp is more than a day in the future."
    return moment


def clean_event(row: Any, event_types: set[str], now: datetime, *, require_timestamp: bool = False) -> Cleaned:
    """Validate one interaction; item existence is checked by the caller against the database.

    `require_timestamp` (backfill) refuses a row without one: history without a time would land at now.
    """
    out = Cleaned()
    if not isinstance(row, dict):
        out.errors["event"] = "Each event must be a JSON object."
        return out
    unknown = set(row) - EVENT_KEYS
    if unknown:
        name = sorted(unknown)[0]
        out.errors[name] = f"Unknown field; allowed: {', '.join(sorted(EVENT_KEYS))}."
    _identifier(row.get("user_id"), "user_id", out)
    _identifier(row.get("item_id"), "item_id", out)
    _identifier(row.get("event_id"), "event_id", out, required=False, addressable=False)
    event_type = row.get("event_type") or "view"
    if not isinstance(event_type, str) or event_type not in event_types:
        out.errors["event_type"] = f"Unknown event type {event_type!r}; this tenant accepts {sorted(event_types)}."
    else:
        out.values["event_type"] = event_type
    value = row.get("value")
    if value is None or value == "":
        out.values["value"] = None
    elif isinstance(value, bool):
        out.errors["value"] = "Must be a number."
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            out.errors["value"] = "Must be a number."
        else:
            if math.isfinite(number):
                out.values["value"] = number
            else:
                out.errors["value"] = "Must be a finite number."
    moment = parse_timestamp(row.get("timestamp"), now)
    if require_timestamp and row.get("timestamp") in (None, ""):
        out.errors["timestamp"] = "Required in backfill mode."
    elif isinstance(moment, str):
        out.errors["timestamp"] = moment
    else:
        out.values["timestamp"] = moment
    _text(row.get("session_id"), "session_id", out, MAX_ID)
    _text(row.get("recommendation_id"), "recommendation_id", out, 64)
    context = row.get("context")
    if context is not None and not isinstance(context, dict):
        out.errors["context"] = "Must be a JSON object."
    elif has_nul(context):
        out.errors["context"] = NUL_MESSAGE
    else:
        out.values["context"] = context
    return out
