"""Celery tasks: thin wrappers that take ids, reload rows and call one service function.

Every task is idempotent: a re-delivered message (acks_late, worker lost) finds the work done or
claimed and does no harm.
"""
from __future__ import annotations

from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from reranking.ml.train import bound_heap
from reranking.models import Event, ModelVersion, RunStatus, TrainingPolicy
from reranking.services import precompute, privacy, served_log, training, webhooks
from reranking.services.embeddings import embed_chunk as embed_chunk_service
from reranking.services.embeddings import embed_queued
from reranking.services.eval_chunks import evaluate_chunk as evaluate_chunk_service
from tenants.models import Tenant


@shared_task(name="worker.tasks.embed_items")
def embed_items(tenant_id: int) -> int:
    """Re-encode items whose text changed; returns how many were."""
    return embed_queued(Tenant.objects.get(pk=tenant_id))


@shared_task(name="worker.tasks.embed_chunk", soft_time_limit=1800, time_limit=1900)
def embed_chunk(tenant_id: int, item_pks: list[int]) -> int:
    """Embed one chunk of a large training run's stale items, unless another worker has it; returns how many."""
    return embed_chunk_service(tenant_id, item_pks)


@shared_task(name="worker.tasks.evaluate_chunk", soft_time_limit=1800, time_limit=1900)
def evaluate_chunk(run_id: int, attempt: int, start: int, stop: int) -> int:
    """Score one chunk of a large training run's test users, unless another worker has it; returns how many."""
    bound_heap()  # (batch, items) score matrices, as in training: freed ones go back to the OS
    return evaluate_chunk_service(run_id, attempt, start, stop)


class TrainTask(Task):
    """A training task's id is derived from its run (training.task_id), so cancelling a run can revoke it."""

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        if task_id is None and args and len(args) == 2:
            task_id = training.task_id(*args)
        return super().apply_async(args, kwargs, task_id=task_id, **options)


@shared_task(
    base=TrainTask,
    name="worker.tasks.train_reranker",
    soft_time_limit=settings.RECS_TRAINING_SOFT_LIMIT,
    time_limit=settings.RECS_TRAINING_SOFT_LIMIT + 300,
)
def train_reranker(tenant_id: int, run_id: int) -> str:
    """Train the run, then fan its precompute out over the workers."""
    run = training.run_training(run_id)
    if run is None:
        return "skipped"
    start_precompute(run)
    return run.status


def start_precompute(version: ModelVersion) -> int:
    shards = precompute.plan_shards(version)
    if not shards:
        precompute.maybe_finish(version.pk)
    for shard in shards:
        precompute_shard.delay(shard.pk)
    return len(shards)


@shared_task(name="worker.tasks.precompute_rankings")
def precompute_rankings(tenant_id: int, version_id: int) -> int:
    """(Re)compute every user's ranking for a version, in parallel shards; returns the shard count."""
    version = ModelVersion.objects.get(pk=version_id, tenant_id=tenant_id)
    return start_precompute(version)


@shared_task(name="worker.tasks.precompute_shard")
def precompute_shard(shard_id: int) -> bool:
    bound_heap()  # a worker that never trained scores (batch, items) matrices too (train.bound_heap)
    return precompute.run_shard(shard_id)


@shared_task(name="worker.tasks.reap_stale_runs")
def reap_stale_runs() -> list[int]:
    return training.reap_stale_runs()


@shared_task(name="worker.tasks.schedule_retraining")
def schedule_retraining() -> list[str]:
    """Queue training for tenants with enough new events, or whose last run is older than their interval."""
    queued = []
    for policy in TrainingPolicy.objects.filter(auto_retrain=True).select_related("tenant"):
        tenant = policy.tenant
        last = ModelVersion.objects.for_tenant(tenant).exclude(status=RunStatus.FAILED).order_by("-number").first()
        newest_event = Event.objects.for_tenant(tenant).aggregate(m=Max("id"))["m"]
        if newest_event is None:
            continue
        due = last is None
        if last is not None and last.status == RunStatus.SUCCEEDED:
            new_events = Event.objects.for_tenant(tenant).filter(id__gt=last.max_event_id).count()
            age = timezone.now() - (last.finished_at or last.created_at)
            due = new_events >= policy.retrain_min_new_events or (
                new_events > 0 and age > timedelta(hours=policy.retrain_interval_hours)
            )
        if due:
            _, created = training.request_training(tenant, trigger="schedule")
            if created:
                queued.append(tenant.slug)
    return queued


@shared_task(name="worker.tasks.retry_overdue_erasures")
def retry_overdue_erasures() -> list[int]:
    """Re-request the clean retrain of erasures still pending past their tenant's deadline."""
    return privacy.retry_overdue_erasures()


@shared_task(name="worker.tasks.delete_expired_events", soft_time_limit=3 * 3600, time_limit=3 * 3600 + 300)
def delete_expired_events() -> dict[str, int]:
    """Delete events past each tenant's retention period; returns {tenant slug: events deleted}."""
    return privacy.delete_expired_events()


@shared_task(name="worker.tasks.flush_served_log", soft_time_limit=300, time_limit=360)
def flush_served_log() -> int:
    """Move the served-recommendation buffer from Redis to the database; returns rows stored."""
    return served_log.flush()


@shared_task(
    bind=True,
    name="worker.tasks.deliver_webhook",
    autoretry_for=(webhooks.DeliveryFailed,),
    max_retries=settings.RECS_WEBHOOK_MAX_RETRIES,
    retry_backoff=settings.RECS_WEBHOOK_BACKOFF,  # seconds before the first retry, doubling each time
    retry_backoff_max=3600,
    retry_jitter=True,
    soft_time_limit=120,
    time_limit=150,
)
def deliver_webhook(self, delivery_id: int) -> str:
    """POST one webhook delivery; a non-2xx answer is retried, the last try records the failure."""
    return webhooks.deliver(delivery_id, final=self.request.retries >= self.max_retries)
