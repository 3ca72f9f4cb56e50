"""Access requests: everything the platform holds about one end user, as JSON."""
from __future__ import annotations

from django.utils import timezone

from reranking.models import EndUser, Event, PrivacySettings, Ranking, ServedRecommendation
from tenants.models import Tenant

from . import served_log

ERASURE_NOTE = (
    "This user has not been erased: their data is listed here. Erasure deletes an end user's interactions, "
    "served-recommendation log and rankings for good; its audit record holds no user id, so an erased user "
    "has nothing left to export (the export then answers 404)."
)


def export_user(tenant: Tenant, user: EndUser, shown_id: str) -> dict:
    """Return the user's profile, interactions, lists served and precomputed rankings, and erasure status.

    `shown_id` is the id the client asked with (never the stored hash). Flushes the served-recommendation
    buffer first, so lists served in the last seconds are included. Reads every row of the user: the
    cost grows with their history, which is fine for an occasional access request.
    """
    assert user.tenant_id == tenant.pk, "export_user needs one of the tenant's own users"
    served_log.flush(max_batches=10)  # bounded: the beat task keeps the buffer short anyway
    settings_row = PrivacySettings.for_tenant(tenant)
    events = (
        Event.objects.for_tenant(tenant).filter(user=user).order_by("timestamp", "id")
        .values("item__external_id", "event_type", "value", "timestamp", "session_id", "event_id",
                "recommendation_id", "context")
    )
    served = ServedRecommendation.objects.for_tenant(tenant).filter(user=user).order_by("served_at", "id").values(
        "recommendation_id", "served_at", "endpoint", "strategy", "model_version", "items", "placement"
    )
    rankings = (
        Ranking.objects.for_tenant(tenant).filter(user=user).order_by("version__number")
        .values("version__number", "computed_at", "items")
    )
    return {
        "user_id": shown_id,
        "exported_at": timezone.now(),
        "tenant": tenant.slug,
        "profile": {"user_id": shown_id, "first_seen": user.created_at, "stored_as_pseudonym": settings_row.pseudonymous_ids},
        "events": [
            {"item_id": e.pop("item__external_id"), **e} for e in events.iterator(chunk_size=2000)
        ],
        "recommendations_served": list(served),
        "precomputed_rankings": [
            {"model_version": r["version__number"], "computed_at": r["computed_at"], "items": [i for i, _ in r["items"]]}
            for r in rankings
        ],
        "erasure": {"erased": False, "note": ERASURE_NOTE},
        "retention_days": settings_row.retention_days,
    }
