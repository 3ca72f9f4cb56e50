"""What the rule builder offers and warns about, drawn from the tenant's own catalogue.

The builder's pickers (fields, operators, values, items to pin) and the examples name the tenant's real
categories, attributes and items; the warnings say when a draft matches nothing in the catalogue (with
the value in another case, if that is why), removes every item, or pins a slot another rule pins.
"""
from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from datetime import timezone as dt_timezone

from reranking import rules as engine
from reranking.models import Item, Rule
from tenants.models import Tenant

SAMPLE = 5000  # items read for the vocabulary and the match counts; enough for a picker, bounded on big shops
OPERATORS = {
    "category": ["eq", "ne", "in", "not_in"], "tags": ["contains", "in", "not_in"], "available": ["eq", "ne"],
    "price": ["lt", "lte", "gt", "gte", "eq", "ne", "between"], "age_days": ["lte", "lt", "gte", "gt", "between"],
    "item_id": ["eq", "ne", "in", "not_in"], "attributes": ["eq", "ne", "in", "not_in", "contains", "lt", "gt"],
}
OPERATOR_LABELS = {"eq": "is", "ne": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
                   "lt": "below", "lte": "at most", "gt": "above", "gte": "at least", "between": "between"}


def live_items(tenant: Tenant, *fields: str):
    fields = fields or ("external_id", "title", "category", "tags", "attributes", "price", "available", "created_at")
    return Item.objects.for_tenant(tenant).filter(is_deleted=False).order_by("id").values(*fields)[:SAMPLE]


def vocabulary(tenant: Tenant) -> dict:
    """Fields with their operators and known values, and items to pin (JSON for the builder's script)."""
    rows = list(live_items(tenant, "external_id", "title", "category", "tags", "attributes"))
    categories = Counter(r["category"] for r in rows if r["category"])
    tags = Counter(t for r in rows for t in (r["tags"] or []) if isinstance(t, str))
    attributes: dict[str, Counter] = {}
    for r in rows:
        for key, value in (r["attributes"] or {}).items():
            if isinstance(value, (str, int, float, bool)):
                attributes.setdefault(key, Counter())[str(value)] += 1
    fields = [{"name": "category", "label": "Category", "ops": OPERATORS["category"], "values": [c for c, _ in categories.most_common(100)]},
              {"name": "tags", "label": "Tags", "ops": OPERATORS["tags"], "values": [t for t, _ in tags.most_common(100)]},
              {"name": "available", "label": "Available", "ops": OPERATORS["available"], "values": ["true", "false"]},
              {"name": "price", "label": "Price", "ops": OPERATORS["price"], "values": []},
              {"name": "age_days", "label": "Days since added", "ops": OPERATORS["age_days"], "values": []}]
    for key, values in sorted(attributes.items(), key=lambda p: -sum(p[1].values()))[:20]:
        fields.append({"name": f"attributes.{key}", "label": f"Attribute: {key}", "ops": OPERATORS["attributes"],
                       "values": [v for v, _ in values.most_common(50)]})
    items = [{"id": r["external_id"], "title": r["title"]} for r in rows[:500]]
    return {"fields": fields, "items": items, "labels": OPERATOR_LABELS}


def examples(vocab: dict) -> list[tuple[str, str]]:
    """One example per kind, using the tenant's own most common category, an attribute and an item."""
    by_name = {f["name"]: f for f in vocab["fields"]}
    category = (by_name["category"]["values"] or ["Your category"])[0]
    attribute = next((f for f in vocab["fields"] if f["name"].startswith("attributes.") and f["values"]), None)
    item = vocab["items"][0]["id"] if vocab["items"] else "your-item-id"
    found = {
        "filter": {"when": {"field": "available", "op": "eq", "value": False}},
        "boost": {"when": {"field": "category", "op": "eq", "value": category}, "weight": 0.2},
        "bury": ({"when": {"field": attribute["name"], "op": "eq", "value": attribute["values"][0]}, "weight": 0.5}
                 if attribute else {"when": {"field": "price", "op": "gt", "value": 100}, "weight": 0.5}),
        "diversity": {"max_per_category": 2, "top": 10},
        "pin": {"item_id": item, "position": 1},
    }
    return [(kind, json.dumps(example)) for kind, example in found.items()]


def candidate(row: dict) -> engine.Candidate:
    return engine.Candidate(item_id=row["external_id"], score=0.0, category=row["category"], tags=row["tags"] or [],
                            attributes=row["attributes"] or {}, available=row["available"], created_at=row["created_at"],
                            price=float(row["price"]) if row["price"] is not None else None)


def case_hint(condition: dict, rows: list[dict]) -> str:
    """When a string value matches nothing only because of its case, name the catalogue's spelling."""
    value, name = condition.get("value"), condition.get("field", "")
    if not isinstance(value, str) or condition.get("op") not in ("eq", "contains"):
        return ""
    for row in rows:
        if name == "category":
            options = [row["category"]]
        elif name == "tags":
            options = row["tags"] or []
        elif name.startswith("attributes."):
            options = [(row["attributes"] or {}).get(name.split(".", 1)[1])]
        else:
            return ""
        for option in options:
            if isinstance(option, str) and option != value and option.lower() == value.lower():
                return f" Did you mean “{option}”? Matching is case-sensitive."
    return ""


def warnings(tenant: Tenant, rule: Rule, preview: dict | None) -> list[str]:
    """Return what a merchandiser should know before saving this draft."""
    found: list[str] = []
    params = rule.params if isinstance(rule.params, dict) else {}
    condition = params.get("when")
    if rule.kind in ("filter", "boost", "bury") and isinstance(condition, dict):
        rows = list(live_items(tenant))
        now = datetime.now(dt_timezone.utc)
        try:
            matched = sum(engine.matches(condition, candidate(row), now) for row in rows)
        except (KeyError, TypeError, ValueError):
            matched = None
        if matched == 0 and rows:
            found.append(f"This {rule.kind} matches no item in your catalogue.{case_hint(condition, rows)}")
        elif rule.kind == "filter" and matched == len(rows) and rows:
            found.append(f"This filter removes every item in your catalogue ({len(rows):,}): nothing would be recommended.")
    if preview and preview["before"] and not preview["after"]:
        found.append("After the rules, this list is empty: every item was removed.")
    if rule.kind == "pin" and isinstance(params.get("position"), int):
        others = Rule.objects.for_tenant(tenant).filter(kind="pin", enabled=True).exclude(pk=rule.pk)
        for other in others:
            if isinstance(other.params, dict) and other.params.get("position") == params["position"]:
                found.append(f"Conflicts with rule “{other.name}”, which also pins position {params['position']}; "
                             "the higher priority wins the slot.")
    return found
