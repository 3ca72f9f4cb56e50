"""Upsert catalogue items: validate the whole batch, then write it in one transaction."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from django.db import IntegrityError, transaction
from django.utils import timezone

from reranking.models import Item
from reranking.models.catalogue import ITEM_FIELDS
from tenants.models import Tenant

from .cache import forget_items
from .rows import ITEM_KEYS, RowError, clean_item

IN_CHUNK = 2000  # SQLite caps bound parameters; PostgreSQL plans large IN lists poorly


class ConcurrentUpsert(Exception):
    """Another request kept creating the same item ids; the client should retry (409)."""


class BatchInvalid(Exception):
    """Raised when any row of an all-or-nothing batch is invalid; nothing was written."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} invalid rows")
        self.errors = errors


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def chunked(values: list, size: int = IN_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def validate_items(rows: Iterable[Any], *, strict_keys: bool = True) -> tuple[list[dict], list[RowError]]:
    clean: list[dict] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        result = clean_item(row, strict_keys=strict_keys)
        for name, message in result.errors.items():
            errors.append(RowError(index, name, message))
        item_id = result.values.get("item_id")
        if item_id is not None:
            if item_id in seen:
                errors.append(RowError(index, "item_id", f"Duplicate of row {seen[item_id]} in this batch."))
            seen[item_id] = index
        if not result.errors:
            clean.append(result.values)
    return clean, errors


def plan_upsert(tenant: Tenant, clean: list[dict]) -> tuple[list[Item], list[Item], UpsertResult]:
    """Return (new items, changed items, counts) without writing anything."""
    ids = [row["item_id"] for row in clean]
    existing: dict[str, Item] = {}
    for part in chunked(ids):
        for item in Item.objects.for_tenant(tenant).filter(external_id__in=part):
            existing[item.external_id] = item
    result = UpsertResult()
    new: list[Item] = []
    changed: list[Item] = []
    for row in clean:
        values = {name: row[name] for name in ITEM_FIELDS}
        item = existing.get(row["item_id"])
        if item is None:
            new.append(Item(tenant=tenant, external_id=row["item_id"], **values))
            result.created += 1
            result.changed_ids.append(row["item_id"])
        elif item.field_values() != values or item.is_deleted:
            for name, value in values.items():
                setattr(item, name, value)
            item.is_deleted = False
            changed.append(item)
            result.updated += 1
            result.changed_ids.append(row["item_id"])
        else:
            result.unchanged += 1
    return new, changed, result


def upsert_items(tenant: Tenant, rows: Iterable[Any], *, strict_keys: bool = True) -> UpsertResult:
    """Create or update items by external id. Any invalid row refuses the whole batch (BatchInvalid)."""
    clean, errors = validate_items(rows, strict_keys=strict_keys)
    if errors:
        raise BatchInvalid(errors)
    for attempt in range(2):
        try:
            with transaction.atomic():
                new, changed, result = plan_upsert(tenant, clean)
                Item.objects.bulk_create(new, batch_size=1000)
                if changed:
                    now = timezone.now()
                    for item in changed:
                        item.updated_at = now
                    Item.objects.bulk_update(changed, [*ITEM_FIELDS, "is_deleted", "updated_at"], batch_size=1000)
            break
        except IntegrityError:
            # A concurrent batch created one of these ids between our plan and our insert: plan again,
            # now seeing its rows as existing. A second collision is reported as a conflict.
            if attempt:
                raise ConcurrentUpsert() from None
    forget_items()
    return result


def soft_delete_item(item: Item) -> None:
    item.is_deleted = True
    item.save(update_fields=["is_deleted", "updated_at"])
    forget_items()


def read_item_csv(data: bytes | str) -> list[dict]:
    """Parse catalogue CSV into row dicts; columns beyond the known ones become attributes."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _item_rows(reader)
    except csv.Error as exc:  # a cell over the csv module's size limit, say
        raise ValueError(f"Line {reader.line_num}: {exc}.") from exc


def _item_rows(reader: csv.DictReader) -> list[dict]:
    if not reader.fieldnames or "item_id" not in reader.fieldnames or "title" not in reader.fieldnames:
        raise ValueError("The CSV needs a header row with at least item_id and title columns.")
    rows = []
    for record in reader:
        row: dict[str, Any] = {}
        attributes = {}
        for key, value in record.items():
            if key is None:  # more cells than header columns
                raise ValueError(f"Line {reader.line_num} has more cells than the header.")
            if key in ITEM_KEYS and key != "attributes":
                row[key] = value
            elif value not in (None, ""):
                attributes[key] = value
        row["attributes"] = attributes
        rows.append(row)
    return rows
