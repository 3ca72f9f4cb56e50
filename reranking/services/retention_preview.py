"""What a retention change would delete, before it is saved (the privacy page's guard)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from reranking.models import Event
from tenants.models import Tenant


@dataclass(frozen=True)
class RetentionPreview:
    days: int
    cutoff: datetime
    n_events: int

    @property
    def sentence(self) -> str:
        return (f"This will delete {self.n_events:,} interactions (everything before "
                f"{self.cutoff:%Y-%m-%d}) at the next daily run, and they cannot be restored.")


def retention_preview(tenant: Tenant, saved_days: int | None, new_days: int | None) -> RetentionPreview | None:
    """Return how many events a new, shorter retention period deletes; None when it deletes no more than now.

    One indexed COUNT on (tenant_id, timestamp).
    """
    if new_days is None or (saved_days is not None and new_days >= saved_days):
        return None
    cutoff = timezone.now() - timedelta(days=new_days)
    return RetentionPreview(new_days, cutoff, Event.objects.for_tenant(tenant).filter(timestamp__lt=cutoff).count())
