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
from .csv_export import attribute_cell, item_cells, unguarded
from .embeddings import request_embedding
from .rows import ITEM_DEFAULTS, ITEM_KEYS, RowError, clean_item

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
    errors: list[RowError] = field(default_factory=list)  # rows that only the stored state makes invalid

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


@dataclass
class ItemRow:
    """One valid row of a batch: its index, its cleaned fields (only those it carries) and what was sent."""

    index: int
    values: dict[str, Any]
    sent: dict[str, Any]
    text_cells: bool = False  # a CSV row: a cell equal to what export writes keeps the stored value


def chunked(values: list, size: int = IN_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def validate_items(rows: Iterable[Any], *, strict_keys: bool = True) -> tuple[list[ItemRow], list[RowError]]:
    """Validate each row on its own; CSV callers pass strict_keys=False (see clean_item)."""
    clean: list[ItemRow] = []
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
            clean.append(ItemRow(index, result.values, row, text_cells=not strict_keys))
    return clean, errors


def merged_values(item: Item | None, row: ItemRow) -> dict[str, Any] | RowError:
    """Return the item's field values after this row: the fields it carries change, the others stay.

    A new item (or a deleted one brought back) starts from ITEM_DEFAULTS and needs a title. In a CSV
    row, a cell that reads exactly as export writes the stored value leaves that value (its type
    included: an attribute 3 exported as "3" stays 3), so export -> upload changes nothing; an
    attribute column's empty cell removes that attribute, and attributes without a column stay.
    """
    values = row.values
    if item is None or item.is_deleted:
        if "title" not in values:
            return RowError(row.index, "title", "This field is required for a new item.")
        base: dict[str, Any] = {**ITEM_DEFAULTS, "title": values["title"]}
        if row.text_cells and "attributes" in values:
            values = {**values, "attributes": {k: v for k, v in values["attributes"].items() if v not in ("", None)}}
        return {name: values.get(name, base.get(name)) for name in ITEM_FIELDS}
    merged = item.field_values()
    if not row.text_cells:
        merged.update({name: values[name] for name in ITEM_FIELDS if name in values})
        return merged
    cells = item_cells(item)
    for name in ITEM_FIELDS:
        if name in values and name != "attributes" and str(row.sent.get(name) or "") != cells[name]:
            merged[name] = values[name]
    if "attributes" in values:
        stored = item.attributes if isinstance(item.attributes, dict) else {}
        attributes = dict(stored)
        for key, cell in values["attributes"].items():
            if key in stored and cell == attribute_cell(stored[key]):
                continue
            if cell in ("", None):
                attributes.pop(key, None)
            else:
                attributes[key] = cell
        merged["attributes"] = attributes
    return merged


def plan_upsert(tenant: Tenant, clean: list[ItemRow]) -> tuple[list[Item], list[Item], UpsertResult]:
    """Return (new items, changed items, counts) without writing anything.

    Rows that the stored state makes invalid (a new item without a title) are in `result.errors`.
    """
    ids = [row.values["item_id"] for row in clean]
    existing: dict[str, Item] = {}
    for part in chunked(ids):
        for item in Item.objects.for_tenant(tenant).filter(external_id__in=part):
            existing[item.external_id] = item
    result = UpsertResult()
    new: list[Item] = []
    changed: list[Item] = []
    for row in clean:
        item_id = row.values["item_id"]
        item = existing.get(item_id)
        values = merged_values(item, row)
        if isinstance(values, RowError):
            result.errors.append(values)
        elif item is None:
            new.append(Item(tenant=tenant, external_id=item_id, **values))
            result.created += 1
            result.changed_ids.append(item_id)
        elif item.field_values() != values or item.is_deleted:
            for name, value in values.items():
                setattr(item, name, value)
            item.is_deleted = False
            changed.append(item)
            result.updated += 1
            result.changed_ids.append(item_id)
        else:
            result.unchanged += 1
    return new, changed, result


def upsert_items(tenant: Tenant, rows: Iterable[Any], *, strict_keys: bool = True) -> UpsertResult:
    """Create or update items by external id, changing only the fields each row carries (see merged_values).

    Any invalid row refuses the whole batch (BatchInvalid); nothing is written.
    """
    clean, errors = validate_items(rows, strict_keys=strict_keys)
    if errors:
        # Report the rows only the stored state makes invalid too, so one answer lists every bad row.
        planned = plan_upsert(tenant, clean)[2].errors
        raise BatchInvalid(sorted(errors + planned, key=lambda e: e.index))
    for attempt in range(2):
        try:
            with transaction.atomic():
                new, changed, result = plan_upsert(tenant, clean)
                if result.errors:
                    raise BatchInvalid(result.errors)
                Item.objects.bulk_create(new, batch_size=1000)
                if changed:
                    now = timezone.now()
                    for item in changed:
                        item.updated_at = now
                    Item.objects.bulk_update(changed, [*ITEM_FIELDS, "is_deleted", "updated_at"], batch_size=1000)
                if result.changed_ids:
                    # New or changed text gets embedded soon, so serving can use it before a retrain.
                    transaction.on_commit(lambda: request_embedding(tenant.pk))
            break
        except IntegrityError:
            # A concurrent batch created one of these ids between our plan and our insert: plan again,
            # now seeing its rows as existing. A second collision is reported as a conflict.
            if attempt:
                raise ConcurrentUpsert() from None
    forget_items()
    return result


class ItemNotFound(LookupError):
    """No live item with this id in this tenant (becomes a 404)."""


def patch_item(tenant: Tenant, item_id: str, body: Any) -> Item:
    """Change the fields `body` carries on one live item (PATCH /items/{item_id}); `null` clears a field.

    Raises ItemNotFound, or BatchInvalid with the row's errors (index 0) for a bad body.
    """
    if not Item.objects.for_tenant(tenant).filter(external_id=item_id, is_deleted=False).exists():
        raise ItemNotFound(item_id)
    if isinstance(body, dict) and "item_id" in body and str(body["item_id"]).strip() != item_id:
        raise BatchInvalid([RowError(0, "item_id", "Cannot be changed; the URL names the item.")])
    upsert_items(tenant, [{**body, "item_id": item_id}] if isinstance(body, dict) else [body])
    return Item.objects.for_tenant(tenant).get(external_id=item_id)


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
    """Rows with a key per column present: item fields as they are, other columns under attributes.

    Every cell loses the apostrophe export's formula guard added (csv_export.unguarded). An attribute
    column's empty cell is kept as "" (it removes that attribute from an existing item).
    """
    if not reader.fieldnames or "item_id" not in reader.fieldnames:
        raise ValueError(
            "The CSV needs a header row with at least item_id and title columns; title may be left out when "
            "every row updates an existing item."
        )
    extra = [key for key in reader.fieldnames if not (key in ITEM_KEYS and key != "attributes")]
    rows = []
    for record in reader:
        row: dict[str, Any] = {}
        attributes = {}
        for key, value in record.items():
            if key is None:  # more cells than header columns
                raise ValueError(f"Line {reader.line_num} has more cells than the header.")
            value = unguarded(value) if isinstance(value, str) else value
            if key in ITEM_KEYS and key != "attributes":
                row[key] = value
            else:
                attributes[key] = "" if value is None else value
        if extra:
            row["attributes"] = attributes
        rows.append(row)
    return rows
