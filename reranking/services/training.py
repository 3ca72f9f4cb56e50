"""Train a tenant's re-ranker: one run per tenant at a time, progress on the run row, safe failure.

Nothing here can leave a tenant without a working model: a run only becomes active after its
rankings are complete (see precompute.finish), and a failed run touches neither the active version
nor its rankings.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from reranking.ml import selection
from reranking.ml.config import RerankerConfig
from reranking.ml.train import Cancelled, train
from reranking.models import IN_FLIGHT, Event, ModelVersion, PrivacySettings, RunStatus, TrainingPolicy
from tenants.models import Tenant

from . import eval_chunks, privacy_budget, queue, webhooks
from .datasets import tenant_dataset
from .embeddings import embed_items, live_items

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10
Progress = Callable[[str, float], None]

# Share of the run's progress bar each phase fills; precompute fills the rest (see precompute.py).
PHASES = [("embedding", 0, 10), ("candidates", 10, 20), ("training", 20, 75), ("evaluating", 75, 80), ("saving", 80, 82)]


class TrainingRefused(Exception):
    """The tenant cannot be trained now (no data); the message says why."""


def overall_percent(phase: str, fraction: float) -> float:
    phase = phase.removeprefix("DP ")  # DP-SGD's epochs fill the training share too
    for prefix, start, end in PHASES:
        if phase.startswith(prefix):
            return start + (end - start) * max(0.0, min(1.0, fraction))
    return 0.0


def request_training(tenant: Tenant, trigger: str = "manual", *, enqueue: bool = True) -> tuple[ModelVersion, bool]:
    """Queue a training run, or return the tenant's run already in flight (created=False).

    The partial unique index `modelversion_one_in_flight` makes this safe across processes and hosts.
    """
    try:
        with transaction.atomic():
            Tenant.objects.select_for_update().get(pk=tenant.pk)
            current = ModelVersion.objects.for_tenant(tenant).filter(status__in=IN_FLIGHT).first()
            if current is not None:
                return current, False
            number = (ModelVersion.objects.for_tenant(tenant).aggregate(n=Max("number"))["n"] or 0) + 1
            run = ModelVersion.objects.create(tenant=tenant, number=number, trigger=trigger)
            if enqueue:
                transaction.on_commit(lambda: enqueue_training(run))
    except IntegrityError:
        return ModelVersion.objects.for_tenant(tenant).get(status__in=IN_FLIGHT), False
    return run, True


class QueueUnavailable(Exception):
    """The task broker refused the message; the run was failed so the tenant is not blocked."""


def enqueue_training(run: ModelVersion) -> None:
    try:
        # Its task id is task_id(run), so cancel can revoke it (worker.tasks.TrainTask when loaded).
        queue.enqueue("worker.tasks.train_reranker", run.tenant_id, run.pk, task_id=task_id(run.tenant_id, run.pk))
    except Exception as exc:  # noqa: BLE001 - any broker error: fail the run, tell the caller
        fail(run, f"Could not queue the training task: {exc.__class__.__name__}: {exc}")
        raise QueueUnavailable("The task queue is unavailable; try again shortly.") from exc


def claim(run_id: int) -> ModelVersion | None:
    """Mark the run running for this worker, or return None if it is finished or owned by a live worker."""
    stale = timezone.now() - timedelta(seconds=settings.RECS_RUN_STALE_SECONDS)
    with transaction.atomic():
        run = ModelVersion.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in IN_FLIGHT:
            return None
        if run.status == RunStatus.RUNNING and run.heartbeat_at and run.heartbeat_at > stale:
            return None  # a re-delivered message while the first worker is still alive
        now = timezone.now()
        run.status, run.started_at, run.heartbeat_at = RunStatus.RUNNING, run.started_at or now, now
        run.attempts += 1
        run.phase, run.error = "starting", ""
        run.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "phase", "error"])
        return run


class Heartbeat:
    """Touch the run's heartbeat from a thread while the worker trains, so the reaper can tell it lives."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{run_id}")

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self.stop.wait(HEARTBEAT_SECONDS):
                ModelVersion.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=HEARTBEAT_SECONDS + 5)


def set_progress(run: ModelVersion, phase: str, percent: float) -> None:
    """Store the run's phase and progress; raise Cancelled when the run is no longer running (cancelled)."""
    run.phase, run.progress = phase[:100], round(max(run.progress, percent), 1)
    still_running = ModelVersion.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
        phase=run.phase, progress=run.progress, heartbeat_at=timezone.now())
    if not still_running:
        raise Cancelled(f"v{run.number} was cancelled")


def artifact_dir(run: ModelVersion) -> Path:
    return Path(settings.MEDIA_ROOT) / "models" / run.tenant.slug / f"v{run.number}"


def fail(run: ModelVersion, error: str) -> None:
    ModelVersion.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, error=error[-4000:], finished_at=timezone.now(), phase="failed"
    )
    webhooks.training_failed(run, error)


def run_training(run_id: int, progress: Progress | None = None) -> ModelVersion | None:
    """Train the run's model and save its artifact. Returns the run, or None if nothing was done.

    Errors end the run as failed with the error text; they never propagate to the caller.
    """
    run = claim(run_id)
    if run is None:
        return None
    tenant = run.tenant
    last_write = [0.0]

    def report(phase: str, fraction: float) -> None:
        percent = overall_percent(phase, fraction)
        if progress is not None:
            progress(phase, percent)
        now = timezone.now().timestamp()
        if now - last_write[0] > 1.0 or fraction >= 1.0:  # a DB write per batch would slow training
            last_write[0] = now
            set_progress(run, phase, percent)

    try:
        with Heartbeat(run.pk):
            run.max_event_id = Event.objects.for_tenant(tenant).aggregate(m=Max("id"))["m"] or 0
            items = live_items(tenant)
            if not items or not run.max_event_id:
                raise TrainingRefused("The tenant has no items or no events to train on.")
            report("embedding", 0.0)
            started, cpu = time.perf_counter(), time.process_time()
            embeddings, _ = embed_items(tenant, items, progress=lambda f: report("embedding", f), share=True)
            embedding_seconds, embedding_cpu = time.perf_counter() - started, time.process_time() - cpu
            dataset = tenant_dataset(tenant, items, run.max_event_id)
            if dataset.n_users < 2 or len(dataset.event_items) < 10:
                raise TrainingRefused(f"Too little data to train: {len(dataset.event_items)} events on live items.")
            policy = TrainingPolicy.for_tenant(tenant)
            config = RerankerConfig(**{
                "exclude_seen": policy.exclude_seen,
                "max_examples_per_user": policy.max_examples_per_user,  # shilling defence: one user's weight
                "new_user_days": policy.new_user_days,  # and a crowd of new accounts' weight on one item
                "new_user_item_floor": policy.new_user_item_floor,
                **settings.RECS_TRAINING_OVERRIDES,
                **dp_options(PrivacySettings.for_tenant(tenant)),  # under DP training its own (smaller) cap wins
            })
            # A large test sample is scored in chunks idle workers share (eval_chunks.py); train()'s own
            # progress stops at 0.6 of the phase before scoring and goes on at 0.8.
            score_test = eval_chunks.shared_scorer(run, lambda f: report("evaluating", 0.6 + 0.2 * f))
            result = train(dataset, config, item_embeddings=embeddings, progress=report, score_test=score_test)
            # The core's "embedding" phase is the text neighbours only; the worker's encoding comes first.
            embedding_seconds += result.timings.get("embedding", 0.0)
            cpu_seconds = result.metrics.setdefault("cpu_seconds", {})
            cpu_seconds["embedding"] = round(cpu_seconds.get("embedding", 0.0) + embedding_cpu, 2)
            config = select_served(result, config)  # the re-ranker, or the source that beat it (ml/selection.py)
            report("saving", 0.0)
            target = artifact_dir(run)
            if target.exists():
                shutil.rmtree(target)  # a re-delivered run starts its artifact afresh
            result.model.save(target)
            run.refresh_from_db(fields=["status"])
            if run.status != RunStatus.RUNNING:
                return None  # cancelled while training
            # Privacy budget: a DP run is recorded in the ledger, or refused (never activated) over budget.
            privacy_budget.spend_training(run, result.metrics.get("privacy"))
            ModelVersion.objects.filter(pk=run.pk).update(
                device=result.device,
                n_events=len(dataset.event_items),
                n_users=dataset.n_users,
                n_items=dataset.n_items,
                max_event_id=run.max_event_id,
                config=config.to_dict(),
                metrics=result.metrics,
                dp_epsilon=result.metrics.get("privacy", {}).get("epsilon"),
                dp_delta=result.metrics.get("privacy", {}).get("delta"),
                dp_noise_multiplier=result.metrics.get("privacy", {}).get("noise_multiplier"),
                # The core sees precomputed embeddings; the phase that made them is the worker's.
                timings={**{k: round(v, 3) for k, v in result.timings.items()}, "embedding": round(embedding_seconds, 3)},
                artifact_path=str(target.relative_to(settings.MEDIA_ROOT)),
                phase="precompute",
                progress=82.0,
            )
            log.info("trained %s v%s on %s in %s", tenant.slug, run.number, result.device, result.timings)
    except (TrainingRefused, privacy_budget.BudgetExceeded) as exc:
        fail(run, str(exc))
        return None
    except Cancelled:
        log.info("training %s v%s stopped: cancelled", tenant.slug, run.number)
        return None
    except Exception as exc:  # noqa: BLE001 - any training error ends the run, never the active model
        log.exception("training %s v%s failed", tenant.slug, run.number)
        fail(run, f"{exc.__class__.__name__}: {exc}\n\n{traceback.format_exc(limit=8)}")
        return None
    run.refresh_from_db()
    return run


def select_served(result, config: RerankerConfig) -> RerankerConfig:
    """Record what this version serves (metrics["selection"]) and set it on the model; return the config."""
    choice = selection.choose(result.metrics.get("validation") or {}, config.selection_margin)
    if choice is None:
        return config
    result.metrics["selection"] = choice.to_dict()
    config = dataclasses.replace(config, serve=choice.served)
    result.model.config = config
    return config


def dp_options(privacy: PrivacySettings) -> dict:
    """Return the RerankerConfig fields of the tenant's DP training option (none when it is off)."""
    if not privacy.dp_training:
        return {}
    return {"dp_epsilon": privacy.dp_training_epsilon, "dp_delta": privacy.dp_training_delta,
            "max_examples_per_user": privacy.max_examples_per_user,
            "dp_mode": "end_to_end" if privacy.dp_training_end_to_end else "network"}


def privacy_cost(version: ModelVersion) -> dict | None:
    """For a DP version, return the latest succeeded non-private version before it and both NDCG@10s."""
    if not version.is_private:
        return None
    baseline = (ModelVersion.objects.for_tenant(version.tenant)
                .filter(status=RunStatus.SUCCEEDED, dp_epsilon__isnull=True, number__lt=version.number)
                .order_by("-number").first())
    ours, theirs = version.test_ndcg, baseline.test_ndcg if baseline else None
    return {"baseline": baseline, "ndcg": ours, "baseline_ndcg": theirs,
            "ratio": ours / theirs if ours is not None and theirs else None}


def reap_stale_runs() -> list[int]:
    """Fail running runs whose worker stopped beating (killed, host lost); return their ids.

    Queued runs that no worker picked up for a while are queued again (claiming is idempotent).
    """
    stale = timezone.now() - timedelta(seconds=settings.RECS_RUN_STALE_SECONDS)
    forgotten = timezone.now() - timedelta(seconds=settings.RECS_QUEUED_RESEND_SECONDS)
    for run in ModelVersion.objects.filter(status=RunStatus.QUEUED, created_at__lt=forgotten):
        try:
            enqueue_training(run)
        except QueueUnavailable:
            log.warning("could not re-queue run %s", run.pk)
    ids = list(
        ModelVersion.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=stale).values_list("id", flat=True)
    )
    for run_id in ids:
        error = f"The worker stopped reporting for over {settings.RECS_RUN_STALE_SECONDS} s (killed or lost)."
        if ModelVersion.objects.filter(pk=run_id, status=RunStatus.RUNNING, heartbeat_at__lt=stale).update(
            status=RunStatus.FAILED, phase="failed", finished_at=timezone.now(), error=error,
        ):
            webhooks.training_failed(ModelVersion.objects.select_related("tenant").get(pk=run_id), error)
    return ids


def cancel(run: ModelVersion, by=None) -> bool:
    """Cancel a queued or running run; return False when it had already finished.

    The run's row says who cancelled it and in which phase. A running worker notices at its next progress
    report (at most about a second later, between two training steps) and stops; the queued task is
    revoked so a worker that has not started it never does. The tenant's next run can be queued at once.
    """
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(pk=run.pk, status__in=IN_FLIGHT).first()
        if current is None:
            return False
        name = getattr(by, "get_username", lambda: "")() or "the system"
        where = "before it started" if current.status == RunStatus.QUEUED else \
            f"at phase {current.phase} ({current.progress:.0f}%)"
        note = f"Cancelled by {name} {where}."
        ModelVersion.objects.filter(pk=run.pk).update(
            status=RunStatus.CANCELLED, finished_at=timezone.now(), activation_note=note[:300])
    revoke(run)
    return True


def task_id(tenant_id: int, run_id: int) -> str:
    """The Celery task id of a run's training task: known without storing it, so cancel can revoke it."""
    return f"train-{tenant_id}-{run_id}"


def revoke(run: ModelVersion) -> None:
    from config.celery_app import app

    try:
        app.control.revoke(task_id(run.tenant_id, run.pk))
    except Exception:  # noqa: BLE001 - the broker is down: the worker still stops at its next progress report
        log.warning("could not revoke the training task of run %s", run.pk, exc_info=True)


def worker_name() -> str:
    """Return the Celery worker's node name (w1@host) inside a task, else host:pid."""
    from celery import current_task

    hostname = getattr(getattr(current_task, "request", None), "hostname", None)
    return hostname or f"{socket.gethostname()}:{os.getpid()}"
