"""One description of a training run, used by the models table, the progress panel, its JSON and a version page.

The status, the progress line (phase, percent, elapsed time and an estimate) and the outcome in words
all come from here, so no two places can disagree about a run.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from django.utils import timezone

from reranking.models import ModelVersion, RunStatus

# Internal method names as a merchandiser reads them.
METHOD_NAMES = {
    "reranker": "Re-ranker (this model)",
    "transition": "Next-item transitions",
    "item_knn": "Similar items (co-occurrence)",
    "als": "Matrix factorisation (ALS)",
    "text": "Similar descriptions (text)",
    "recent_popularity": "Popular lately",
}
METRIC_NAMES = {"ndcg@10": "NDCG@10", "hit@10": "Hit rate@10", "mrr@10": "MRR@10", "coverage@10": "Coverage@10"}
ERASED_REASON = ("it was trained before an end user's data was erased, so it can never serve "
                 "(a version trained after the erasure replaces it)")


def method_name(name: str) -> str:
    return METHOD_NAMES.get(name, name.replace("_", " "))


def duration(seconds: float | None) -> str:
    """Return '2.5 s', '45 s', '3 min 5 s' or '1 h 12 min'."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


@dataclass(frozen=True)
class RunState:
    number: int
    status: str
    phase: str
    progress: float
    finished: bool
    elapsed_s: float | None
    eta_s: float | None
    line: str  # the progress line: "training epoch 2/8 · 43% · 1 min 5 s elapsed, about 1 min 30 s left"
    outcome: str  # what happened, in words ("" while in flight)
    is_active: bool

    def as_json(self) -> dict:
        return {**asdict(self), "progress": round(self.progress, 1)}


def eta(elapsed: float | None, progress: float) -> float | None:
    """Estimate the seconds left from the share done so far; none before 5% (too early to tell)."""
    if elapsed is None or progress < 5 or progress >= 100:
        return None
    return elapsed * (100 - progress) / progress


def run_state(run: ModelVersion, previous: ModelVersion | None = None, now=None) -> RunState:
    """Describe a run; `previous` is the succeeded version before it (for the outcome's comparison)."""
    now = now or timezone.now()
    end = run.finished_at or (None if run.status in (RunStatus.QUEUED, RunStatus.RUNNING) else now)
    elapsed = ((end or now) - run.started_at).total_seconds() if run.started_at else None
    left = eta(elapsed, run.progress) if not run.is_finished else None
    if run.status == RunStatus.QUEUED:
        waited = (now - run.created_at).total_seconds()
        line = f"queued · waiting {duration(waited)} for a free training worker"
    elif run.status == RunStatus.RUNNING:
        line = f"{run.phase} · {run.progress:.0f}%"
        if elapsed is not None:
            line += f" · {duration(elapsed)} elapsed"
            line += f", about {duration(left)} left" if left is not None else ", estimating time left"
    else:
        line = f"{run.status}" + (f" after {duration(elapsed)}" if elapsed is not None else "")
    return RunState(number=run.number, status=run.status, phase=run.phase, progress=run.progress,
                    finished=run.is_finished, elapsed_s=elapsed, eta_s=left, line=line,
                    outcome=outcome(run, previous), is_active=run.is_active)


def outcome(run: ModelVersion, previous: ModelVersion | None) -> str:
    """Say in words what became of a finished run: live and why, kept back and why, failed, cancelled."""
    v = f"v{run.number}"
    if run.status == RunStatus.FAILED:
        return f"{v} failed: {run.error.splitlines()[0] if run.error else 'no reason recorded'}"
    if run.status == RunStatus.CANCELLED:
        return run.activation_note or f"{v} was cancelled."
    if run.status != RunStatus.SUCCEEDED:
        return ""
    comparison = compare(run, previous)
    if run.is_active:
        if previous is None:
            return f"{v} is live: it is the first model trained on your data."
        return f"{v} is live: {comparison}." if comparison else f"{v} is live."
    if run.contains_erased_data:
        return f"{v} was kept back: {ERASED_REASON}."
    if run.activation_note.startswith("Not activated"):
        return f"{v} was kept back: {comparison}, more than the allowed margin." if comparison \
            else f"{v} was kept back: {run.activation_note}"
    if run.activate_when_ready:
        return f"{v} becomes live when its rankings are recomputed."
    if run.activated_at:
        return f"{v} served from {run.activated_at:%Y-%m-%d %H:%M} until a later version replaced it."
    return run.activation_note or f"{v} is ready but not live."


def compare(run: ModelVersion, previous: ModelVersion | None) -> str:
    """Return 'it beat v3 on your data (NDCG@10 0.370 vs 0.368)' or the worse case; '' without figures."""
    if previous is None or run.validation_ndcg is None or previous.validation_ndcg is None:
        return ""
    new, old = run.validation_ndcg, previous.validation_ndcg
    verb = "it beat" if new > old else "it matched" if new == old else "it scored below"
    return f"{verb} v{previous.number} on your data (validation NDCG@10 {new:.3f} vs {old:.3f})"


def previous_succeeded(run: ModelVersion) -> ModelVersion | None:
    return (ModelVersion.objects.for_tenant(run.tenant).filter(status=RunStatus.SUCCEEDED, number__lt=run.number)
            .order_by("-number").first())
