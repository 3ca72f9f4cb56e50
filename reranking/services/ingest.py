"""Store a batch of interactions: valid rows are written, invalid rows are reported by index.

The hot path of the product's write side, so it avoids per-row queries and per-row model instances:
items, users and known event ids are each resolved with a handful of IN queries, then the events go in
as plain tuples (COPY on PostgreSQL, bulk_create elsewhere).
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from django.db import connection, transaction
from django.utils import timezone

from reranking.models import EndUser, Event, Item, TrainingPolicy
from tenants.models import Tenant

from . import identity, ratelimit
from .cache import ingest_limits_key, last_event_key, remember, set_many
from .catalogue import chunked
from .rows import RowError, clean_event

FRESH_TTL = 14 * 24 * 3600  # longer than any sensible retrain interval
SETTINGS_TTL = 3600  # tenant settings in the cache; a change drops them (signals.py)
# The Event fields an ingested row sets, in the order of the tuples insert_events takes.
EVENT_FIELDS = (
    "tenant_id", "user_id", "item_id", "event_type", "value", "timestamp", "session_id", "event_id",
    "recommendation_id", "context", "created_at",
)


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": len(self.errors),
            "errors": [e.as_dict() for e in self.errors],
        }


def resolve_items(tenant: Tenant, external_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunked(sorted(external_ids)):
        rows = Item.objects.for_tenant(tenant).filter(external_id__in=part, is_deleted=False)
        found.update(rows.values_list("external_id", "id"))
    return found


def resolve_users(tenant: Tenant, external_ids: Iterable[str], now) -> dict[str, int]:
    """Return ids of these end users, creating the ones seen for the first time (in the order given)."""
    wanted = list(dict.fromkeys(external_ids))
    found: dict[str, int] = {}
    for part in chunked(wanted):
        found.update(EndUser.objects.for_tenant(tenant).filter(external_id__in=part).values_list("external_id", "id"))
    missing = [ext for ext in wanted if ext not in found]
    if missing:
        EndUser.objects.bulk_create(
            [EndUser(tenant=tenant, external_id=ext, created_at=now) for ext in missing],
            batch_size=2000,
            ignore_conflicts=True,  # a concurrent batch may create the same user
        )
        for part in chunked(missing):
            found.update(
                EndUser.objects.for_tenant(tenant).filter(external_id__in=part).values_list("external_id", "id")
            )
    return found


def known_event_ids(tenant: Tenant, event_ids: list[str]) -> set[str]:
    known: set[str] = set()
    for part in chunked(event_ids):
        known.update(Event.objects.for_tenant(tenant).filter(event_id__in=part).values_list("event_id", flat=True))
    return known


def insert_events(rows: list[tuple]) -> int:
    """Insert event tuples (in EVENT_FIELDS order); return how many were stored.

    A row whose event_id a concurrent retry stored first is skipped, not an error.
    """
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        Event.objects.bulk_create(
            [Event(**dict(zip(EVENT_FIELDS, row))) for row in rows], batch_size=2000, ignore_conflicts=True
        )
        return len(rows)
    return _copy_events(rows)


def _copy_events(rows: list[tuple]) -> int:
    """COPY the rows into a scratch table, then move them over, skipping event_id conflicts.

    COPY is several times faster than a parameterised INSERT, but cannot skip conflicts itself.
    """
    meta = Event._meta
    fields = [meta.get_field(name) for name in EVENT_FIELDS]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # COPY reads an empty CSV cell as NULL; in the NOT NULL text columns it must be the empty string.
    not_null = ", ".join(
        connection.ops.quote_name(f.column)
        for f in fields
        if not f.null and f.get_internal_type() in ("CharField", "TextField")
    )
    context = EVENT_FIELDS.index("context")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        if row[context] is not None:
            row = (*row[:context], json.dumps(row[context]), *row[context + 1 :])
        writer.writerow(row)
    buffer.seek(0)
    table = connection.ops.quote_name(meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE incoming_events AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.cursor.copy_expert(
            f"COPY incoming_events ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL ({not_null}))", buffer
        )
        cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM incoming_events ON CONFLICT DO NOTHING")
        stored = cursor.rowcount
        cursor.execute("DROP TABLE incoming_events")
    return stored


def ingest_events(
    tenant: Tenant, rows: Sequence[Any], *, rate_limit: bool = False, require_timestamp: bool = False
) -> IngestResult:
    """Store the valid rows of a batch; a retried batch with the same event_ids stores nothing twice.

    With rate_limit=True (live traffic: the events API) each end user's new rows beyond the tenant's
    per-minute and per-hour limits are refused with code `rate_limited`. Imports of history (CLI, bench,
    the API's backfill mode) leave it off: their events arrive all at once by nature; backfill asks for
    `require_timestamp`, since history without a time would land at now.
    """
    now = timezone.now()
    event_types = set(tenant.event_types)
    result = IngestResult()
    clean: list[tuple[int, dict]] = []
    for index, row in enumerate(rows):
        cleaned = clean_event(row, event_types, now, require_timestamp=require_timestamp)
        if cleaned.errors:
            name, message = next(iter(cleaned.errors.items()))
            result.errors.append(RowError(index, name, message))
        else:
            clean.append((index, cleaned.values))
    if not clean:
        return result

    granted: dict[str, int] = {}  # rate-limit quota taken, returned if the transaction fails
    try:
        with transaction.atomic():
            items, new = new_rows(tenant, clean, result)
            # Under the settings row's shared lock: a switch to pseudonymous ids cannot slip in between.
            # Converted first, so rate-limit counters never hold a raw id either.
            ids = identity.user_ids(tenant, for_write=True)
            for _, values in new:
                values["user_id"] = ids.stored(values["user_id"])
            if rate_limit:
                granted, new = within_rate_limits(tenant, new, now, result)
            users = resolve_users(tenant, (values["user_id"] for _, values in new), now)
            result.stored = insert_events(
                [
                    (
                        tenant.pk, users[v["user_id"]], items[v["item_id"]], v["event_type"], v["value"], v["timestamp"],
                        v["session_id"], v.get("event_id"), v["recommendation_id"], v["context"], now,
                    )
                    for _, v in new
                ]
            )
    except BaseException:
        ratelimit.give_back(tenant.pk, granted, now.timestamp())  # nothing was stored: a retry may pass
        raise
    if result.stored:
        note_fresh_events(tenant, {v["user_id"] for _, v in new}, now)
    result.errors.sort(key=lambda e: e.index)
    return result


def new_rows(tenant: Tenant, clean: list[tuple[int, dict]], result: IngestResult) -> tuple[dict[str, int], list]:
    """Resolve items and drop rows already stored (retries) or repeated in the batch; return (items, new rows)."""
    items = resolve_items(tenant, {values["item_id"] for _, values in clean})
    accepted: list[tuple[int, dict]] = []
    for index, values in clean:
        if values["item_id"] in items:
            accepted.append((index, values))
        else:
            result.errors.append(RowError(index, "item_id", f"Unknown item {values['item_id']!r}."))
    event_ids = [v["event_id"] for _, v in accepted if v.get("event_id")]
    known = known_event_ids(tenant, event_ids) if event_ids else set()
    first_row: dict[str, int] = {}  # event_id -> index of the row that carries it in this batch
    new: list[tuple[int, dict]] = []
    for index, values in accepted:
        event_id = values.get("event_id")
        if event_id is not None:
            if event_id in first_row:
                message = f"Duplicate of row {first_row[event_id]} in this batch."
                result.errors.append(RowError(index, "event_id", message))
                continue
            first_row[event_id] = index
            if event_id in known:
                result.duplicates += 1  # a retry: it takes no quota
                continue
        new.append((index, values))
    return items, new


def within_rate_limits(
    tenant: Tenant, rows: list[tuple[int, dict]], now, result: IngestResult
) -> tuple[dict[str, int], list[tuple[int, dict]]]:
    """Take each end user's quota for their rows; refuse the rows beyond it (later rows of the batch first).

    Returns the quota taken per user and the rows kept, in order.
    """
    limits = ingest_limits(tenant)
    wanted = Counter(values["user_id"] for _, values in rows)
    granted = ratelimit.take(tenant.pk, dict(wanted), limits, now.timestamp())
    if all(granted[user] >= count for user, count in wanted.items()):
        return granted, rows
    left, kept = dict(granted), []
    for index, values in rows:
        if left[values["user_id"]] > 0:
            left[values["user_id"]] -= 1
            kept.append((index, values))
        else:
            result.errors.append(RowError(index, "user_id", limits.message(), code=ratelimit.CODE))
    return granted, kept


def ingest_limits(tenant: Tenant) -> ratelimit.Limits:
    """The tenant's per-end-user event limits, memoised like other tenant settings (see signals.py)."""

    def load() -> tuple[int, int]:
        policy = TrainingPolicy.for_tenant(tenant)
        return policy.max_events_per_user_minute, policy.max_events_per_user_hour

    return ratelimit.Limits(*remember(ingest_limits_key(tenant.pk), SETTINGS_TTL, load, local=True))


def note_fresh_events(tenant: Tenant, user_ids: set[str], now) -> None:
    """Tell serving these users acted just now, so their precomputed lists are re-scored online."""
    stamp = now.timestamp()
    set_many({last_event_key(tenant.pk, user): stamp for user in user_ids}, FRESH_TTL)
