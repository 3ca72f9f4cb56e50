"""Liveness and readiness endpoints; public by design (they reveal no tenant data)."""
from __future__ import annotations

import time

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

BROKER_CHECK_SECONDS = 5.0  # opening a broker connection per probe would cost more than the probe
_broker_state: dict = {"at": 0.0, "value": "unknown"}


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        return f"error: {exc.__class__.__name__}"


def check_cache() -> str:
    try:
        cache.set("recs:health", 1, 10)
        return "ok" if cache.get("recs:health") == 1 else "error: no round trip"
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"


def check_broker() -> str:
    now = time.monotonic()
    if now - _broker_state["at"] < BROKER_CHECK_SECONDS:
        return _broker_state["value"]
    from config.celery_app import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
        value = "ok"
    except Exception as exc:  # noqa: BLE001
        value = f"error: {exc.__class__.__name__}"
    _broker_state.update(at=now, value=value)
    return value


def model_status() -> dict:
    from reranking.models import ModelVersion, RunStatus

    counts = {"active": ModelVersion.objects.filter(is_active=True).count()}
    counts["training"] = ModelVersion.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).count()
    return counts


@require_GET
def live(request):
    """Answer without touching anything: the process is up."""
    return JsonResponse({"status": "ok"})


@require_GET
def health(request):
    """Report database, cache, broker and model status; 503 if the database is down."""
    body = {"database": check_database(), "cache": check_cache(), "broker": check_broker()}
    if body["database"] == "ok":
        body["models"] = model_status()
    degraded = any(value != "ok" for key, value in body.items() if key in ("database", "cache", "broker"))
    body = {"status": "degraded" if degraded else "ok", **body}
    return JsonResponse(body, status=503 if body["database"] != "ok" else 200)
