"""Feed large row streams to the services in API-sized chunks, with a progress bar."""
from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator

from tqdm import tqdm

from tenants.models import Tenant

from .catalogue import UpsertResult, upsert_items
from .ingest import IngestResult, ingest_events

CHUNK = 10_000


def batches(rows: Iterable[dict], size: int = CHUNK) -> Iterator[list[dict]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def import_items(tenant: Tenant, rows: list[dict], *, strict_keys: bool = True, progress: bool = True) -> UpsertResult:
    total = UpsertResult()
    with tqdm(total=len(rows), unit="item", desc="items", disable=not progress) as bar:
        for batch in batches(rows):
            result = upsert_items(tenant, batch, strict_keys=strict_keys)
            total.created += result.created
            total.updated += result.updated
            total.unchanged += result.unchanged
            bar.update(len(batch))
    return total


def import_events(tenant: Tenant, rows: Iterable[dict], *, total: int | None = None, progress: bool = True) -> IngestResult:
    summary = IngestResult()
    with tqdm(total=total, unit="event", desc="events", disable=not progress) as bar:
        offset = 0
        for batch in batches(rows):
            result = ingest_events(tenant, batch)
            summary.stored += result.stored
            summary.duplicates += result.duplicates
            for error in result.errors:
                error.index += offset
            summary.errors.extend(result.errors)
            offset += len(batch)
            bar.update(len(batch))
    return summary
