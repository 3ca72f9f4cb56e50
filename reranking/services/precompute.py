"""Precompute every user's top-K for a version in shards, then switch it in atomically.

Shards are ranges of end-user ids; each is one task, so several workers split the work. A shard
rewrites its own rows (idempotent). The last shard to finish marks the version's rankings ready and
activates it if it passes the tenant's gate: readers follow `is_active`, so they see the old set or
the new set, never a mix.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from reranking.ml.artifact import CorruptArtifact, Reranker
from reranking.models import EndUser, ModelVersion, PrecomputeShard, Ranking, RunStatus, TrainingPolicy

from . import experiments, privacy, queue, webhooks
from .cache import active_key
from .cache import delete as cache_delete
from .datasets import histories_for
from .training import set_progress, worker_name

log = logging.getLogger(__name__)
CHUNK_USERS = 256
KEEP_RANKED_VERSIONS = 3  # the active one and two to roll back to without recomputing
ERASED_NOTE = "Not activated: trained before an end user's data was erased (contains_erased_data)."


def load_model(artifact_path: str) -> Reranker:
    """Load a version's model once per process; raise CorruptArtifact if its files are missing or damaged.

    Keyed by the absolute folder and its files' mtimes, so a folder rewritten for a re-created tenant
    (same slug, same version number) or another MEDIA_ROOT is never served from a stale copy. A failed
    load is remembered too, so a broken artifact costs one read per process, not one per request.
    """
    folder = Path(settings.MEDIA_ROOT) / artifact_path
    try:
        stamp = tuple((folder / name).stat().st_mtime_ns for name in ARTIFACT_FILES)
    except OSError as exc:
        raise CorruptArtifact(f"{artifact_path}: {exc.strerror}: {exc.filename}") from exc
    key = (str(folder), stamp)
    model = _kept(key)
    if model is not None:
        return model
    # Threads of a process (gthread workers) asking for an artifact at once: one reads it, the others
    # wait and take its copy. Loads are rare, so one lock for all is enough; hits never take it.
    with _load_lock:
        if key in _broken:
            raise CorruptArtifact(_broken[key])
        model = _kept(key)
        if model is not None:
            return model
        try:
            model = Reranker.load(key[0])
        except CorruptArtifact as exc:
            if len(_broken) > 100:
                _broken.clear()
            _broken[key] = str(exc)
            raise
        with _models_lock:
            _models[key] = model
            while len(_models) > MODELS_KEPT:
                _models.popitem(last=False)
        return model


ARTIFACT_FILES = ("config.json", "model.safetensors")
MODELS_KEPT = 4  # loaded versions a process keeps, least recently used dropped first (an A/B test serves two)
_models: OrderedDict[tuple[str, tuple[int, ...]], Reranker] = OrderedDict()
_models_lock = threading.Lock()  # guards _models' order; held for dict operations only
_load_lock = threading.Lock()
_broken: dict[tuple[str, tuple[int, ...]], str] = {}
_reported: set[tuple[int, str]] = set()


def _kept(key: tuple[str, tuple[int, ...]]) -> Reranker | None:
    with _models_lock:
        model = _models.get(key)
        if model is not None:
            _models.move_to_end(key)
        return model


def report_broken_artifact(version: ModelVersion | int, exc: Exception) -> None:
    """Show staff that a version's artifact cannot be loaded (its error, in admin and on the models page).

    A version not yet serving is also failed, so it is never activated; the active one keeps serving
    from its stored rankings while live scoring falls back (see serving.live_model).
    """
    version_id = getattr(version, "pk", version)
    message = f"The model artifact cannot be loaded, so this version is not used for scoring: {exc}"[:4000]
    if (version_id, message) in _reported:
        return
    _reported.add((version_id, message))
    log.error("version %s: %s", version_id, message)
    ModelVersion.objects.filter(pk=version_id).update(error=message)
    newly_failed = ModelVersion.objects.filter(pk=version_id, is_active=False).exclude(status=RunStatus.FAILED).first()
    ModelVersion.objects.filter(pk=version_id, is_active=False).update(
        status=RunStatus.FAILED, phase="failed", finished_at=timezone.now(), activate_when_ready=False
    )
    if newly_failed is not None:
        webhooks.training_failed(newly_failed, message)


def plan_shards(version: ModelVersion) -> list[PrecomputeShard]:
    """Split the tenant's users into shards of about RECS_PRECOMPUTE_SHARD_USERS (rewrites the plan)."""
    user_ids = list(EndUser.objects.for_tenant(version.tenant).order_by("id").values_list("id", flat=True))
    size = max(1, settings.RECS_PRECOMPUTE_SHARD_USERS)
    bounds = [(user_ids[i], user_ids[min(i + size, len(user_ids)) - 1]) for i in range(0, len(user_ids), size)]
    with transaction.atomic():
        PrecomputeShard.objects.filter(version=version).delete()
        shards = PrecomputeShard.objects.bulk_create(
            [
                PrecomputeShard(tenant=version.tenant, version=version, index=i, first_user_id=lo, last_user_id=hi)
                for i, (lo, hi) in enumerate(bounds)
            ]
        )
        timings = {**version.timings, "precompute_started_at": time.time()}
        ModelVersion.objects.filter(pk=version.pk).update(n_shards=len(shards), rankings_ready=False, timings=timings)
        version.timings = timings
    return shards


def run_shard(shard_id: int) -> bool:
    """Compute and store the rankings of one shard; return False if there was nothing to do."""
    shard = PrecomputeShard.objects.select_related("version", "tenant").filter(pk=shard_id).first()
    if shard is None or shard.version.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return False
    version, tenant = shard.version, shard.tenant
    started = time.perf_counter()
    try:
        model = load_model(version.artifact_path)
    except CorruptArtifact as exc:
        report_broken_artifact(version, exc)
        return False
    policy = TrainingPolicy.for_tenant(tenant)
    users = list(
        EndUser.objects.for_tenant(tenant)
        .filter(id__gte=shard.first_user_id, id__lte=shard.last_user_id)
        .order_by("id")
        .values_list("id", "external_id")
    )
    rows: list[Ranking] = []
    now = timezone.now()
    for start in range(0, len(users), CHUNK_USERS):
        chunk = users[start : start + CHUNK_USERS]
        histories = histories_for(tenant, [pk for pk, _ in chunk])
        ranked = model.recommend([histories[pk] for pk, _ in chunk], k=policy.top_k, exclude_seen=policy.exclude_seen)
        rows.extend(
            Ranking(
                tenant=tenant, version=version, user_id=pk, user_external_id=external,
                items=[[item, round(float(score), 5)] for item, score in pairs], computed_at=now,
            )
            for (pk, external), pairs in zip(chunk, ranked)
        )
    with transaction.atomic():
        Ranking.objects.filter(version=version, user_id__gte=shard.first_user_id, user_id__lte=shard.last_user_id).delete()
        Ranking.objects.bulk_create(rows, batch_size=1000)
        PrecomputeShard.objects.filter(pk=shard.pk).update(
            done=True, n_users=len(rows), worker=worker_name(), seconds=time.perf_counter() - started,
            finished_at=timezone.now(),
        )
    done = PrecomputeShard.objects.filter(version=version, done=True).count()
    set_progress(version, f"precompute {done}/{version.n_shards}", 82 + 18 * done / max(version.n_shards, 1))
    maybe_finish(version.pk)
    return True


def maybe_finish(version_id: int) -> bool:
    """Once every shard is done, mark the version succeeded and activate it if it passes the gate."""
    with transaction.atomic():
        version = ModelVersion.objects.select_for_update().get(pk=version_id)
        if version.rankings_ready or version.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            return False
        if PrecomputeShard.objects.filter(version=version, done=False).exists():
            return False
        version.rankings_ready = True
        if version.status == RunStatus.RUNNING:
            version.status, version.finished_at = RunStatus.SUCCEEDED, timezone.now()
        version.phase, version.progress = "done", 100.0
        started = version.timings.get("precompute_started_at")
        if started:
            version.timings["precompute"] = round(time.time() - started, 3)
        users = sum(PrecomputeShard.objects.filter(version=version).values_list("n_users", flat=True))
        version.timings["precompute_users"] = users
        version.save(update_fields=["rankings_ready", "status", "finished_at", "phase", "progress", "timings"])
        if version.contains_erased_data:
            ModelVersion.objects.filter(pk=version.pk).update(activation_note=ERASED_NOTE, activate_when_ready=False)
            webhooks.model_not_activated(version, ERASED_NOTE)
        elif version.activate_when_ready or passes_gate(version):
            activate(version)
        else:
            note = gate_note(version)
            ModelVersion.objects.filter(pk=version.pk).update(activation_note=note)
            webhooks.model_not_activated(version, note)
    prune_rankings(version.tenant_id)
    return True


def active_version(tenant) -> ModelVersion | None:
    return ModelVersion.objects.for_tenant(tenant).filter(is_active=True).first()


def passes_gate(version: ModelVersion) -> bool:
    current = active_version(version.tenant)
    if current is None or current.pk == version.pk or current.contains_erased_data:
        return True  # a version trained after an erasure always replaces one trained before it
    new, old = version.validation_ndcg, current.validation_ndcg
    if old is None:
        return True
    if new is None:
        return False
    margin = TrainingPolicy.for_tenant(version.tenant).activation_margin
    return new >= old * (1.0 - margin)


def gate_note(version: ModelVersion) -> str:
    current = active_version(version.tenant)
    return (
        f"Not activated: validation NDCG@10 {version.validation_ndcg} is worse than the active "
        f"v{current.number}'s {current.validation_ndcg} by more than the tenant's margin."
    )[:300]


def refuse_erased(version: ModelVersion) -> None:
    if version.contains_erased_data:
        raise ValueError(
            f"v{version.number} cannot be activated: it has contains_erased_data set (it was trained before an "
            "end user's data was erased). Activate a version trained after the erasure."
        )


def activate(version: ModelVersion) -> None:
    """Make this version the one served, completing the erasures it was trained after.

    Refuses a version without complete rankings or one trained on erased data.
    """
    refuse_erased(version)
    if version.status != RunStatus.SUCCEEDED or not version.rankings_ready:
        raise ValueError(f"v{version.number} cannot be activated: it has no complete rankings.")
    with transaction.atomic():
        ModelVersion.objects.for_tenant(version.tenant).filter(is_active=True).exclude(pk=version.pk).update(
            is_active=False
        )
        ModelVersion.objects.filter(pk=version.pk).update(
            is_active=True, activated_at=timezone.now(), activate_when_ready=False, activation_note=""
        )
        privacy.complete_erasures(version)
        webhooks.model_activated(version)
        transaction.on_commit(lambda: cache_delete(active_key(version.tenant_id)))
    version.refresh_from_db()


def request_activation(version: ModelVersion) -> str:
    """Activate now, or re-precompute first when this version's rankings were pruned. Returns what happened."""
    refuse_erased(version)
    if version.rankings_ready:
        activate(version)
        return "activated"
    if version.status != RunStatus.SUCCEEDED or not version.artifact_path:
        raise ValueError(f"v{version.number} did not succeed; only a succeeded version can be activated.")
    ModelVersion.objects.filter(pk=version.pk).update(activate_when_ready=True)
    queue.enqueue("worker.tasks.precompute_rankings", version.tenant_id, version.pk)
    return "precomputing"


def prune_rankings(tenant_id: int) -> None:
    """Delete rankings of versions that are neither active nor among the newest ready ones."""
    keep = list(
        ModelVersion.objects.filter(tenant_id=tenant_id, rankings_ready=True)
        .order_by("-is_active", "-number")
        .values_list("id", flat=True)[:KEEP_RANKED_VERSIONS]
    )
    keep += experiments.versions_in_use(tenant_id)  # an A/B arm serves them
    stale = ModelVersion.objects.filter(tenant_id=tenant_id, rankings_ready=True).exclude(id__in=keep)
    for version_id in stale.values_list("id", flat=True):
        Ranking.objects.filter(version_id=version_id).delete()
        ModelVersion.objects.filter(pk=version_id).update(rankings_ready=False)
