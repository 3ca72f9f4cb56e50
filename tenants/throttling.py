"""Request rate limits per tenant and per API key; DRF answers 429 with Retry-After past either.

The counters live in the cache (Redis). With Redis down the limits are not enforced rather than
every request failing: an outage of the cache must degrade the API, not take it down.
"""
from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from reranking.services import cache

from .models import ApiKey


class CacheThrottle(SimpleRateThrottle):
    """A rate throttle that lets requests through while its cache is unavailable."""

    def allow_request(self, request, view) -> bool:
        if cache.is_down():
            return True
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # noqa: BLE001 - any cache error: serve unthrottled, log once
            cache.mark_down("throttle", exc)
            return True


class TenantRateThrottle(CacheThrottle):
    """All of a tenant's keys share one budget, so one tenant cannot starve the others."""

    scope = "tenant"

    def get_cache_key(self, request, view) -> str | None:
        tenant = getattr(request._request, "tenant", None)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.pk}


class KeyRateThrottle(CacheThrottle):
    """Each key has its own, smaller budget, so one leaked or runaway key cannot use the tenant's."""

    scope = "key"

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
