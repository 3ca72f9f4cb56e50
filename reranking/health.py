"""What /health adds for staff and token holders (tenants/health.py): model counts across tenants."""
from __future__ import annotations

from .models import ModelVersion, RunStatus


def model_status() -> dict:
    """Return how many versions are active and how many are queued or training, over all tenants."""
    counts = {"active": ModelVersion.objects.filter(is_active=True).count()}
    counts["training"] = ModelVersion.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()
    return counts
