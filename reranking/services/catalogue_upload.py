"""The web UI's catalogue upload: merge a file's rows into the items they update, plan, and describe changes.

A file updates only the columns it has: a field without a column keeps its value, and attribute
columns change only those attribute keys (the same partial update as the API's). Rows are checked one by
one, so the good rows can be imported and the bad ones downloaded to fix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from reranking.importers import CatalogueFile
from reranking.models import Item
from reranking.models.catalogue import ITEM_FIELDS
from tenants.models import Tenant

from .catalogue import chunked, plan_upsert, validate_items

CHANGES_SHOWN = 50


def as_text(value) -> str:
    """A field value as a merchandiser reads it: lists comma-separated, attributes as 'key: value'."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def existing_items(tenant: Tenant, rows: list[dict]) -> dict[str, Item]:
    ids = [str(row.get("item_id", "")).strip() for row in rows]
    found: dict[str, Item] = {}
    for part in chunked(ids):
        for item in Item.objects.for_tenant(tenant).filter(external_id__in=part):
            found[item.external_id] = item
    return found


def merge(rows: list[dict], present: set[str], existing: dict[str, Item]) -> list[dict]:
    """Fill each row's absent fields from the item it updates; attribute columns add to its attributes."""
    merged = []
    for row in rows:
        item = existing.get(str(row.get("item_id", "")).strip())
        if item is None:
            merged.append(dict(row))
            continue
        full = {"item_id": row["item_id"]}
        for name in ITEM_FIELDS:
            if name == "attributes":
                current = dict(item.attributes) if isinstance(item.attributes, dict) else {}
                full["attributes"] = {**current, **row["attributes"]} if "attributes" in present else current
            elif name in present:
                full[name] = row.get(name, "")
            else:
                value = getattr(item, name)
                full[name] = str(value) if isinstance(value, Decimal) else value
        merged.append(full)
    return merged


@dataclass
class UploadPlan:
    good: list[int] = field(default_factory=list)  # indexes of rows that can be imported
    bad: dict[int, str] = field(default_factory=dict)  # index -> "field: message; ..."
    errors: list[dict] = field(default_factory=list)  # one per field error, with the file's line
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changes: list[dict] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # fields the file has no column for: they stay


def plan(tenant: Tenant, upload: CatalogueFile) -> UploadPlan:
    """Check every row and describe what importing the good ones would change; nothing is written."""
    existing = existing_items(tenant, upload.rows)
    merged = merge(upload.rows, upload.present, existing)
    _, errors = validate_items(merged, strict_keys=False)
    result = UploadPlan(kept=[name for name in ITEM_FIELDS if name not in upload.present])
    for error in errors:
        line = upload.lines[error.index]
        result.errors.append({"line": line, "item_id": str(upload.rows[error.index].get("item_id", "")),
                              "field": error.field, "message": error.message})
        reason = f"{error.field}: {error.message}"
        result.bad[error.index] = f"{result.bad[error.index]}; {reason}" if error.index in result.bad else reason
    result.good = [i for i in range(len(merged)) if i not in result.bad]
    clean, _ = validate_items([merged[i] for i in result.good], strict_keys=False)
    new, changed, counts = plan_upsert(tenant, clean)
    result.created, result.updated, result.unchanged = counts.created, counts.updated, counts.unchanged
    result.changes = describe(new, changed, existing, upload.present)
    return result


def describe(new: list[Item], changed: list[Item], before: dict[str, Item], present: set[str]) -> list[dict]:
    """The first changes: new items, and for updated ones each changed field as text (old -> new)."""
    shown = [{"item_id": item.external_id, "title": item.title, "action": "new", "fields": []}
             for item in new[:CHANGES_SHOWN]]
    for item in changed[: max(CHANGES_SHOWN - len(shown), 0)]:
        old = before[item.external_id]  # plan_upsert changed its own copy, not this one
        fields = [{"name": name, "old": as_text(getattr(old, name)), "new": as_text(getattr(item, name))}
                  for name in ITEM_FIELDS if getattr(old, name) != getattr(item, name)]
        if old.is_deleted:
            fields.append({"name": "deleted", "old": "yes", "new": "no (restored)"})
        shown.append({"item_id": item.external_id, "title": item.title, "action": "updated", "fields": fields})
    return shown


def rows_to_import(tenant: Tenant, upload_rows: list[dict], present: set[str]) -> list[dict]:
    """The stored good rows merged again against the items as they are now (at confirm time)."""
    return merge(upload_rows, present, existing_items(tenant, upload_rows))
