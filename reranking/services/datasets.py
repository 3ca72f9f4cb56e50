"""Turn a tenant's rows into the ML core's inputs (no training here)."""
from __future__ import annotations

from reranking.ml.data import Dataset
from reranking.ml.artifact import History
from reranking.models import EndUser, Event, Item
from tenants.models import Tenant


def tenant_dataset(tenant: Tenant, items: list[Item], max_event_id: int) -> Dataset:
    """Return the events with id <= max_event_id on live items, oldest first, as a Dataset."""
    external = {item.pk: item.external_id for item in items}
    users = dict(EndUser.objects.for_tenant(tenant).values_list("id", "external_id"))
    rows = (
        Event.objects.for_tenant(tenant)
        .filter(id__lte=max_event_id)
        .order_by("timestamp", "id")
        .values_list("user_id", "item_id", "timestamp", "event_type", "value")
        .iterator(chunk_size=20_000)
    )
    user_ids, item_ids, stamps, types, values = [], [], [], [], []
    for user_id, item_id, timestamp, event_type, value in rows:
        user_ids.append(users[user_id])
        item_ids.append(external.get(item_id, ""))  # deleted items are dropped by the Dataset
        stamps.append(timestamp.timestamp())
        types.append(event_type)
        values.append(1.0 if value is None else value)
    return Dataset.from_arrays(
        item_ids=[item.external_id for item in items],
        item_texts=[item.text for item in items],
        user_ids=user_ids,
        event_item_ids=item_ids,
        timestamps=stamps,
        event_types=types,
        values=values,
    )


def histories_for(tenant: Tenant, user_pks: list[int], max_length: int = 200) -> dict[int, History]:
    """Return each user's most recent events (oldest first) as the ML core's History."""
    rows = (
        Event.objects.for_tenant(tenant)
        .filter(user_id__in=user_pks)
        .order_by("user_id", "timestamp", "id")
        .values_list("user_id", "item__external_id", "timestamp", "event_type")
    )
    grouped: dict[int, tuple[list, list, list]] = {pk: ([], [], []) for pk in user_pks}
    for user_id, item_id, timestamp, event_type in rows:
        items, stamps, types = grouped[user_id]
        items.append(item_id)
        stamps.append(timestamp.timestamp())
        types.append(event_type)
    return {
        pk: History(item_ids=items[-max_length:], timestamps=stamps[-max_length:], event_types=types[-max_length:])
        for pk, (items, stamps, types) in grouped.items()
    }
