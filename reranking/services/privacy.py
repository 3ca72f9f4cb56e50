"""Data-subject rights: erase an end user (right to be forgotten) and delete events past retention.

Erasure deletes the user's rows at once, in one transaction, and marks every existing model version as
`contains_erased_data`: its artifact may have learnt from those events, so it can never be activated
again. A retrain is queued with `activate_when_ready`, so it replaces the active version regardless of
the metric gate; when a version trained after the erasure becomes active, the erasure's record is
completed. From then on no active artifact was trained on the user's events.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reranking.models import (
    IN_FLIGHT, EndUser, ErasureRecord, Event, ModelVersion, PrivacySettings, Ranking, ServedRecommendation,
)
from tenants.models import Tenant

from . import cache, training, webhooks

log = logging.getLogger(__name__)
# Events deleted per statement by the retention task; each batch is its own short transaction, so
# ingest and serving never wait on a long lock. Tests shrink it with the RECS_RETENTION_BATCH setting.
RETENTION_BATCH = 5_000


@dataclass(frozen=True)
class Requester:
    """Who asked for an erasure: a logged-in user (web UI) or an API key (by name)."""

    via: str
    user: object | None = None
    api_key_name: str = ""


def erase_user(tenant: Tenant, user: EndUser, requester: Requester) -> ErasureRecord:
    """Delete an end user's events, rankings and cache entries; flag old versions; queue a clean retrain.

    Runs in one transaction holding the tenant row's lock, the same lock request_training takes, so no
    version can be created between the flagging and the retrain. If the task queue is down, the erasure
    still stands and the deadline task (retry_overdue_erasures) asks again.
    """
    assert user.tenant_id == tenant.pk, "erase_user needs one of the tenant's own users"
    external_id = user.external_id
    with transaction.atomic():
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        version_ids = list(ModelVersion.objects.for_tenant(tenant).values_list("id", flat=True))
        keys = [cache.ranking_key(pk, external_id) for pk in version_ids]
        keys += [cache.live_user_key(pk, external_id) for pk in version_ids]
        # Popularity is an aggregate, but it counted the user's events: let it be recomputed without them.
        keys += [cache.last_event_key(tenant.pk, external_id), cache.seen_key(tenant.pk, external_id),
                 cache.popular_key(tenant.pk)]
        rankings, _ = Ranking.objects.filter(tenant=tenant, user=user).delete()
        events, _ = Event.objects.filter(tenant=tenant, user=user).delete()
        # The served-recommendation log; entries still buffered in Redis are dropped when flushed.
        ServedRecommendation.objects.filter(tenant=tenant, user=user).delete()
        EndUser.objects.filter(pk=user.pk).delete()
        ModelVersion.objects.for_tenant(tenant).update(contains_erased_data=True)
        # A run in flight may have read its snapshot before the delete: cancel it and start afresh.
        for run in ModelVersion.objects.for_tenant(tenant).filter(status__in=IN_FLIGHT):
            training.cancel(run)
        now = timezone.now()
        record = ErasureRecord.objects.create(
            tenant=tenant, via=requester.via, requested_by=requester.user, api_key_name=requester.api_key_name,
            created_at=now, events_deleted=events, rankings_deleted=rankings, retrain_requested_at=now,
            retrain_attempts=1,
        )
        # After the commit, so a concurrent reader cannot put back a row it read before the delete.
        transaction.on_commit(lambda: cache.delete(*keys))
        request_clean_retrain(tenant)
    log.info("erased an end user of %s: %s events, %s rankings (record %s)", tenant.slug, events, rankings, record.pk)
    return record


def request_clean_retrain(tenant: Tenant) -> ModelVersion:
    """Queue a run (or reuse the one in flight) that activates when ready, whatever the metric gate says.

    It is sent to the queue once the caller's transaction commits. With the queue down the run is failed
    and the erasure stands: the deadline task (retry_overdue_erasures) asks again.
    """
    run, created = training.request_training(tenant, trigger="erasure", enqueue=False)
    ModelVersion.objects.filter(pk=run.pk).update(activate_when_ready=True)
    run.activate_when_ready = True
    if created:
        transaction.on_commit(lambda: enqueue_quietly(run))
    return run


def enqueue_quietly(run: ModelVersion) -> None:
    try:
        training.enqueue_training(run)
    except training.QueueUnavailable:
        log.warning("could not queue the erasure retrain v%s of tenant %s; the deadline task retries", run.number, run.tenant_id)


def complete_erasures(version: ModelVersion) -> int:
    """Mark the tenant's pending erasures done now that `version`, trained after them, is active."""
    if version.contains_erased_data:
        return 0
    records = list(ErasureRecord.objects.for_tenant(version.tenant).filter(
        completed_at__isnull=True, created_at__lte=version.created_at
    ))
    ErasureRecord.objects.filter(pk__in=[r.pk for r in records]).update(completed_at=timezone.now(), version=version)
    for record in records:
        webhooks.erasure_completed(record, version)
    return len(records)


def retry_overdue_erasures(now=None) -> list[int]:
    """Queue a clean retrain for each tenant whose erasure is still pending past its deadline.

    The deadline is `erasure_retrain_hours` after the last request, so a failing tenant is retried once
    per period rather than on every beat. Returns the ids of the records retried.
    """
    now = now or timezone.now()
    retried: list[int] = []
    pending = ErasureRecord.objects.filter(completed_at__isnull=True)
    for tenant_id in sorted(set(pending.values_list("tenant_id", flat=True))):
        tenant = Tenant.objects.get(pk=tenant_id)
        deadline = timedelta(hours=PrivacySettings.for_tenant(tenant).erasure_retrain_hours)
        overdue = pending.filter(tenant=tenant, retrain_requested_at__lte=now - deadline)
        ids = list(overdue.values_list("id", flat=True))
        if not ids:
            continue
        if ModelVersion.objects.for_tenant(tenant).filter(status__in=IN_FLIGHT, contains_erased_data=False).exists():
            continue  # a clean run is on its way
        with transaction.atomic():
            run = request_clean_retrain(tenant)
            ErasureRecord.objects.filter(id__in=ids).update(
                retrain_requested_at=now, retrain_attempts=F("retrain_attempts") + 1
            )
        log.info("erasure retrain of %s overdue: queued v%s for records %s", tenant.slug, run.number, ids)
        retried.extend(ids)
    return retried


def delete_expired_events(now=None) -> dict[str, int]:
    """Delete events older than each tenant's retention period, in short batches; return counts per tenant.

    Served-recommendation log entries older than the period go the same way (not counted in the result).
    End users left without events stay: they hold only an external id, and deleting them would race
    with ingest creating the same id.
    """
    now = now or timezone.now()
    batch = max(1, getattr(settings, "RECS_RETENTION_BATCH", RETENTION_BATCH))
    deleted: dict[str, int] = {}
    for privacy in PrivacySettings.objects.filter(retention_days__isnull=False).select_related("tenant"):
        tenant, cutoff = privacy.tenant, now - timedelta(days=privacy.retention_days)
        total = delete_in_batches(Event.objects.for_tenant(tenant).filter(timestamp__lt=cutoff), batch)
        served = delete_in_batches(ServedRecommendation.objects.for_tenant(tenant).filter(served_at__lt=cutoff), batch)
        if total or served:
            log.info("retention: deleted %s events and %s served lists of %s older than %s days",
                     total, served, tenant.slug, privacy.retention_days)
        deleted[tenant.slug] = total
    return deleted


def delete_in_batches(queryset, batch: int) -> int:
    """Delete the queryset's rows `batch` at a time, each DELETE its own short transaction; return the count."""
    total = 0
    while True:
        # Unordered, so the (tenant, time) index finds them.
        ids = list(queryset.values_list("id", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            count, _ = queryset.model.objects.filter(id__in=ids).delete()
        total += count
