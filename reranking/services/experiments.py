"""A/B experiments: assignment of users to arms, what each arm serves, results, stop and promote.

Assignment is a hash of (tenant, experiment, user id), or of the client's session id for anonymous
requests, so a user keeps their arm for the experiment's life on every process, with no stored
assignment. Two independent slices of one SHA-256 digest pick (1) holdout or not and (2) the arm by
cumulative traffic shares. Requests with neither a user nor a session id are served as usual and are
not part of the experiment.

Serving asks `route()` (a per-process memo of the running experiment, refreshed every
cache.LOCAL_SECONDS) and `version_for()`; everything after that (filters, privacy settings, DP, rules)
is the same in every arm, because it is the same code path. An arm whose version was deleted, or was
flagged as trained on erased data while not active, serves the active version instead; the results say so.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from reranking.models import (
    ArmKind, Experiment, ExperimentArm, ExperimentStatus, ModelVersion, RunStatus,
)
from tenants.models import Tenant

from . import cache, impressions, webhooks

HOLDOUT = "holdout"
BUCKETS = 10_000
EXPERIMENT_TTL = 300
MAX_ARMS = 5
MAX_HOLDOUT = 50


class ExperimentError(ValueError):
    """Bad experiment input or action; `field` names what is wrong (becomes a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class Arm:
    """The arm a request was routed to, as serving needs it."""

    experiment_id: int
    name: str
    kind: str  # ArmKind value, or "holdout"
    version: dict | None = None  # {"id", "number", "artifact_path"} of a version arm that can serve


# ---- serving ---------------------------------------------------------------------------------


def experiment_key(tenant_id: int) -> str:
    return f"recs:experiment:{tenant_id}"


def running(tenant: Tenant) -> dict:
    """Return the running experiment as serving needs it ({} when none); cached, memoised per process."""

    def load() -> dict:
        experiment = Experiment.objects.for_tenant(tenant).filter(status=ExperimentStatus.RUNNING).first()
        if experiment is None:
            return {}
        arms = []
        for arm in experiment.arms.select_related("version"):
            arms.append({"name": arm.name, "kind": arm.kind, "share": arm.share, "version": servable(arm.version)})
        return {"id": experiment.pk, "holdout": experiment.holdout_percent, "arms": arms}

    return cache.remember(experiment_key(tenant.pk), EXPERIMENT_TTL, load, local=True)


def servable(version: ModelVersion | None) -> dict | None:
    """Return the version as serving reads it, or None when it can no longer serve (deleted, erased, pruned)."""
    if version is None or not version.rankings_ready or (version.contains_erased_data and not version.is_active):
        return None
    return {"id": version.pk, "number": version.number, "artifact_path": version.artifact_path}


def bucket(tenant_id: int, experiment_id: int, unit: str) -> tuple[int, int]:
    """Return two independent buckets in [0, BUCKETS) for a user or session: holdout, then arm."""
    digest = hashlib.sha256(f"{tenant_id}:{experiment_id}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS, int.from_bytes(digest[8:16], "big") % BUCKETS


def assign(tenant_id: int, experiment: dict, unit: str) -> tuple[str, int]:
    """Return (arm name, arm index; -1 for the holdout) for a unit in a running experiment."""
    holdout_bucket, arm_bucket = bucket(tenant_id, experiment["id"], unit)
    if holdout_bucket < experiment["holdout"] * BUCKETS // 100:
        return HOLDOUT, -1
    edge = 0
    for index, arm in enumerate(experiment["arms"]):
        edge += arm["share"] * BUCKETS // 100
        if arm_bucket < edge:
            return arm["name"], index
    return experiment["arms"][-1]["name"], len(experiment["arms"]) - 1  # shares sum to 100: rounding only


def route(tenant: Tenant, user_id: str | None, session_id: str | None = None) -> Arm | None:
    """Return the arm this request belongs to, or None (no experiment running, or nobody to assign)."""
    experiment = running(tenant)
    if not experiment:
        return None
    unit = f"u:{user_id}" if user_id is not None else (f"s:{session_id}" if session_id else None)
    if unit is None:
        return None
    name, index = assign(tenant.pk, experiment, unit)
    if index < 0:
        return Arm(experiment["id"], HOLDOUT, HOLDOUT)
    arm = experiment["arms"][index]
    return Arm(experiment["id"], name, arm["kind"], arm["version"])


def version_for(arm: Arm | None, active: dict | None) -> dict | None:
    """Return the version the request is served from: the arm's, none (popular items), or the active one."""
    if arm is None:
        return active
    if arm.kind in (ArmKind.POPULAR, HOLDOUT):
        return None
    return arm.version or active


def versions_in_use(tenant_id: int) -> list[int]:
    """Return the ids of versions a running experiment serves (their rankings must not be pruned)."""
    return list(
        ExperimentArm.objects.filter(
            tenant_id=tenant_id, experiment__status=ExperimentStatus.RUNNING, version__isnull=False
        ).values_list("version_id", flat=True)
    )


def forget(tenant_id: int) -> None:
    cache.delete(experiment_key(tenant_id))


# ---- admin actions ---------------------------------------------------------------------------


def start(tenant: Tenant, name: str, arms: list[dict], holdout_percent: int = 0) -> Experiment:
    """Validate and start an experiment; refuse while another runs. Arms: {name, kind, version?, share}."""
    if not (name or "").strip():
        raise ExperimentError("name", "Give the experiment a name.")
    if not 0 <= holdout_percent <= MAX_HOLDOUT:
        raise ExperimentError("holdout_percent", f"Must be between 0 and {MAX_HOLDOUT}.")
    if not isinstance(arms, list) or not 2 <= len(arms) <= MAX_ARMS:
        raise ExperimentError("arms", f"Give between 2 and {MAX_ARMS} arms.")
    rows, names = [], set()
    for index, raw in enumerate(arms):
        rows.append(arm_row(tenant, index, raw, names))
    if sum(row.share for row in rows) != 100:
        raise ExperimentError("arms", f"Traffic shares must sum to 100; they sum to {sum(row.share for row in rows)}.")
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(tenant=tenant, name=name.strip()[:200], holdout_percent=holdout_percent)
            for row in rows:
                row.experiment = experiment
            ExperimentArm.objects.bulk_create(rows)
    except IntegrityError as exc:
        raise ExperimentError("status", "Another experiment is running; stop it first.") from exc
    transaction.on_commit(lambda: forget(tenant.pk))
    return experiment


def arm_row(tenant: Tenant, index: int, raw: dict, names: set[str]) -> ExperimentArm:
    """Validate one arm of a new experiment and return its unsaved row."""
    where = f"arms[{index}]"
    if not isinstance(raw, dict):
        raise ExperimentError(where, "Each arm is an object with name, kind, share (and version).")
    kind = raw.get("kind")
    if kind not in ArmKind.values:
        raise ExperimentError(f"{where}.kind", f"Use one of {', '.join(ArmKind.values)}.")
    share = raw.get("share")
    if not isinstance(share, int) or isinstance(share, bool) or not 1 <= share <= 100:
        raise ExperimentError(f"{where}.share", "A whole percent between 1 and 100.")
    version = None
    if kind == ArmKind.VERSION:
        number = raw.get("version")
        if not isinstance(number, int) or isinstance(number, bool):
            raise ExperimentError(f"{where}.version", "Give the model version number this arm serves.")
        version = ModelVersion.objects.for_tenant(tenant).filter(number=number).first()
        if version is None:
            raise ExperimentError(f"{where}.version", f"No version {number} in this tenant.")
        if version.status != RunStatus.SUCCEEDED or version.contains_erased_data:
            raise ExperimentError(f"{where}.version", f"v{number} cannot serve: it is {version.status}"
                                  f"{' and was trained on erased data' if version.contains_erased_data else ''}.")
        if not version.rankings_ready:
            raise ExperimentError(f"{where}.version", f"v{number} has no precomputed rankings; activate it once to compute them.")
    default = f"v{version.number}" if version else str(kind)
    name = str(raw.get("name") or default).strip()[:64]
    if name in names or name == HOLDOUT:
        raise ExperimentError(f"{where}.name", f"Arm names must be unique and not {HOLDOUT!r}; {name!r} is taken.")
    names.add(name)
    return ExperimentArm(tenant=tenant, name=name, kind=kind, version=version,
                         version_number=version.number if version else None, share=share, position=index)


def stop(experiment: Experiment, note: str = "", winner: str = "") -> Experiment:
    """Stop an experiment: from the next request on (within cache.LOCAL_SECONDS), everyone gets the usual list.

    Tells the tenant's webhooks (experiment.finished), with the winner when a promotion stopped it.
    """
    if not experiment.is_running:
        raise ExperimentError("status", f"{experiment.name!r} is already stopped.")
    with transaction.atomic():
        Experiment.objects.filter(pk=experiment.pk).update(
            status=ExperimentStatus.STOPPED, stopped_at=timezone.now(), note=note[:300], winner=winner
        )
        experiment.refresh_from_db()
        webhooks.experiment_finished(experiment)
    forget(experiment.tenant_id)
    return experiment


def promote(experiment: Experiment, arm_name: str) -> Experiment:
    """Make an arm what everyone gets: activate its version (or keep the active re-ranker), and stop the test."""
    from . import precompute

    arm = experiment.arms.filter(name=arm_name).select_related("version").first()
    if arm is None:
        raise ExperimentError("arm", f"No arm {arm_name!r} in this experiment.")
    if arm.kind == ArmKind.POPULAR:
        raise ExperimentError("arm", "Popular items are the fallback, not a model: there is nothing to promote. "
                                     "Stop the experiment instead.")
    note = f"Promoted {arm.name}."
    if arm.kind == ArmKind.VERSION:
        if arm.version is None:
            raise ExperimentError("arm", f"v{arm.version_number} no longer exists.")
        try:
            outcome = precompute.request_activation(arm.version)
        except ValueError as exc:
            raise ExperimentError("arm", str(exc)) from exc
        note = f"Promoted {arm.name}: v{arm.version.number} {'is active' if outcome == 'activated' else 'activates once its rankings are recomputed'}."
    if experiment.is_running:
        stop(experiment, note, winner=arm.name)
    Experiment.objects.filter(pk=experiment.pk).update(winner=arm.name, note=note[:300])
    experiment.refresh_from_db()
    return experiment


# ---- results ---------------------------------------------------------------------------------


def results(experiment: Experiment) -> dict:
    """Return per-arm figures and each arm against the first (the control): difference, 95% CI, p-value."""
    from . import online_metrics  # statsmodels: loaded by the pages that show results, not by serving

    tenant = experiment.tenant
    rows = impressions.impression_rows(tenant, experiment=experiment)
    tallies = online_metrics.tallies(tenant, rows, lambda row: row["arm"])
    arms = list(experiment.arms.select_related("version"))
    names = [arm.name for arm in arms] + ([HOLDOUT] if experiment.holdout_percent else [])
    control = tallies[arms[0].name]
    out = []
    for name in names:
        arm = next((a for a in arms if a.name == name), None)
        t = tallies[name]
        out.append({
            "name": name, "kind": arm.kind if arm else HOLDOUT,
            "version": arm.version_number if arm else None,
            "share": arm.share if arm else None,
            "serving": arm_serving(arm) if arm else "popular items (holdout)",
            **t.as_dict(),
            "ctr_vs_control": None if name == arms[0].name else online_metrics.compare(
                control.outcomes(1), t.outcomes(1)),
            "conversion_vs_control": None if name == arms[0].name else online_metrics.compare(
                control.outcomes(2), t.outcomes(2)),
        })
    return {"control": arms[0].name, "arms": out, "leader": leader(out)}


def arm_serving(arm: ExperimentArm) -> str:
    """Say in plain words what an arm serves now."""
    if arm.kind == ArmKind.POPULAR:
        return "popular items"
    if arm.kind == ArmKind.RERANKER:
        return "the active re-ranker"
    if arm.version is None:
        return f"the active version (v{arm.version_number} was deleted)"
    if servable(arm.version) is None:
        reason = "was trained on erased data" if arm.version.contains_erased_data else "has no rankings"
        return f"the active version (v{arm.version.number} {reason})"
    return f"v{arm.version.number}"


def leader(arms: list[dict]) -> str | None:
    """Return the arm whose CTR beats the control significantly (p < 0.05), best first; None if none does."""
    winners = [a for a in arms if a["ctr_vs_control"] and a["ctr_vs_control"]["p_value"] is not None
               and a["ctr_vs_control"]["p_value"] < 0.05 and a["ctr_vs_control"]["difference"] > 0 and a["kind"] != HOLDOUT]
    if not winners:
        control = arms[0]
        losers = [a for a in arms[1:] if a["ctr_vs_control"] and a["ctr_vs_control"]["p_value"] is not None
                  and a["ctr_vs_control"]["p_value"] < 0.05 and a["kind"] != HOLDOUT]
        return control["name"] if losers and len(losers) == len([a for a in arms[1:] if a["kind"] != HOLDOUT]) else None
    return max(winners, key=lambda a: a["ctr_vs_control"]["difference"])["name"]

