"""Resolve the tenant of an API request from its key (`X-Api-Key` or `Authorization: Bearer`).

Keys are memoised per process for KEY_MEMO_SECONDS, so a busy client costs no database query per
request. Revoking or deleting a key (or changing its tenant) clears the memo of the process that did
it at once (signals in tenants/signals.py); other processes refuse the key within KEY_MEMO_SECONDS.
"""
from __future__ import annotations

import time
from datetime import timedelta

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from rest_framework import authentication, exceptions

from .models import ApiKey, Tenant

# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long another process may still accept a key after it was revoked: the documented window.
KEY_MEMO_SECONDS = 5.0
KEY_MEMO_MAX = 10_000
_key_memo: dict[str, tuple[float, ApiKey]] = {}  # lookup -> (expires at, key with its tenant)


def forget_keys() -> None:
    """Drop this process's memo of API keys (after a key or tenant changed here)."""
    _key_memo.clear()


def key_for(lookup: str) -> ApiKey | None:
    """Return the key with this lookup (and its tenant), from the memo when fresh."""
    now = time.monotonic()
    hit = _key_memo.get(lookup)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = ApiKey.objects.select_related("tenant").filter(lookup=lookup).first()
    if key is not None:
        if len(_key_memo) >= KEY_MEMO_MAX:
            _key_memo.clear()
        _key_memo[lookup] = (now + KEY_MEMO_SECONDS, key)
    return key


def touch(key: ApiKey) -> None:
    """Record that the key was used, at most once per LAST_USED_RESOLUTION (per process)."""
    if getattr(key, "_touch_after", 0.0) > time.monotonic():  # cheap check per request; the clock once a minute
        return
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now  # the memoised object too, so the next requests do not write again
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key._touch_after = time.monotonic() + (LAST_USED_RESOLUTION - (now - key.last_used_at)).total_seconds()


class ApiKeyPrincipal:
    """The `request.user` of a key-authenticated request: it acts for one tenant only."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key
        self.tenant: Tenant = key.tenant
        self.pk = None

    def __str__(self) -> str:
        return f"api-key:{self.key.lookup}"


def raw_key_from(request) -> str | None:
    header = request.META.get("HTTP_X_API_KEY")
    if header:
        return header.strip()
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return None


@sensitive_variables("raw")  # an error report (DEBUG page, HTML admin mail) must not show the key
def authenticated_key(raw: str) -> ApiKey:
    """Return the active key whose secret is `raw` (and record its use), or raise AuthenticationFailed."""
    lookup = ApiKey.parse_lookup(raw)
    key = key_for(lookup) if lookup is not None else None
    if key is None or not key.matches(raw):
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if not key.is_active:
        raise exceptions.AuthenticationFailed("This API key has been revoked.")
    touch(key)
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    @sensitive_variables("raw")
    def authenticate(self, request):
        raw = raw_key_from(request)
        if raw is None:
            return None
        key = authenticated_key(raw)
        request._request.tenant = key.tenant
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with a WWW-Authenticate header when no key was sent.
        return 'Bearer realm="api"'
