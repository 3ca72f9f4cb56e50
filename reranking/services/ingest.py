"""Store a batch of interactions: valid rows are written, invalid rows are reported by index.

The hot path of the product's write side, so it avoids per-row queries: items, users and known
event ids are each resolved with a handful of IN queries, then events go in with bulk_create.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from django.db import transaction
from django.utils import timezone

from reranking.models import EndUser, Event, Item
from tenants.models import Tenant

from .catalogue import chunked
from .rows import RowError, clean_event


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


def resolve_users(tenant: Tenant, external_ids: set[str], now) -> dict[str, int]:
    """Return ids of these end users, creating the ones seen for the first time."""
    found: dict[str, int] = {}
    for part in chunked(sorted(external_ids)):
        found.update(EndUser.objects.for_tenant(tenant).filter(external_id__in=part).values_list("external_id", "id"))
    missing = [ext for ext in external_ids if ext not in found]
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


def ingest_events(tenant: Tenant, rows: Sequence[Any]) -> IngestResult:
    """Store the valid rows of a batch; a retried batch with the same event_ids stores nothing twice."""
    now = timezone.now()
    event_types = set(tenant.event_types)
    result = IngestResult()
    clean: list[tuple[int, dict]] = []
    for index, row in enumerate(rows):
        cleaned = clean_event(row, event_types, now)
        if cleaned.errors:
            name, message = next(iter(cleaned.errors.items()))
            result.errors.append(RowError(index, name, message))
        else:
            clean.append((index, cleaned.values))
    if not clean:
        return result

    with transaction.atomic():
        items = resolve_items(tenant, {values["item_id"] for _, values in clean})
        accepted: list[tuple[int, dict]] = []
        for index, values in clean:
            if values["item_id"] in items:
                accepted.append((index, values))
            else:
                result.errors.append(RowError(index, "item_id", f"Unknown item {values['item_id']!r}."))
        event_ids = [v["event_id"] for _, v in accepted if v.get("event_id")]
        seen = known_event_ids(tenant, event_ids) if event_ids else set()
        users = resolve_users(tenant, {v["user_id"] for _, v in accepted}, now)
        events: list[Event] = []
        for _, values in accepted:
            event_id = values.get("event_id")
            if event_id is not None:
                if event_id in seen:
                    result.duplicates += 1
                    continue
                seen.add(event_id)
            events.append(
                Event(
                    tenant=tenant,
                    user_id=users[values["user_id"]],
                    item_id=items[values["item_id"]],
                    event_type=values["event_type"],
                    value=values["value"],
                    timestamp=values["timestamp"],
                    session_id=values["session_id"],
                    event_id=event_id,
                    recommendation_id=values["recommendation_id"],
                    context=values["context"],
                    created_at=now,
                )
            )
        # ignore_conflicts covers a concurrent retry of the same batch racing past the check above.
        Event.objects.bulk_create(events, batch_size=2000, ignore_conflicts=True)
        result.stored = len(events)
    result.errors.sort(key=lambda e: e.index)
    return result
