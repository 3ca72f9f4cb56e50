"""Liveness and readiness endpoints; public by design (they reveal no tenant data).

The public sees whether the database, cache and broker answer. Detail that spans tenants (how many
models are active or training, registered by other apps with `register_detail`) is added for staff
logged in to the admin, or for a probe sending settings.RECS_HEALTH_TOKEN in X-Health-Token.
"""
from __future__ import annotations

import hmac
import time
from typing import Callable

from django.conf import settings
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


_details: dict[str, Callable[[], object]] = {}


def register_detail(name: str, compute: Callable[[], object]) -> None:
    """Add `name` to the health detail shown to staff and token holders (an app's ready() calls this)."""
    _details[name] = compute


def may_see_detail(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token, sent = settings.RECS_HEALTH_TOKEN, request.headers.get("X-Health-Token", "")
    return bool(token) and hmac.compare_digest(token.encode(), sent.encode())


@require_GET
def live(request):
    """Answer without touching anything: the process is up."""
    return JsonResponse({"status": "ok"})


@require_GET
def health(request):
    """Report database, cache and broker status (and the detail, if allowed); 503 if the database is down."""
    body = {"database": check_database(), "cache": check_cache(), "broker": check_broker()}
    if body["database"] == "ok" and may_see_detail(request):
        body.update({name: compute() for name, compute in _details.items()})
    degraded = any(value != "ok" for key, value in body.items() if key in ("database", "cache", "broker"))
    body = {"status": "degraded" if degraded else "ok", **body}
    return JsonResponse(body, status=503 if body["database"] != "ok" else 200)
