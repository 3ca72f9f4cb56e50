"""Resolve the tenant of an API request from its key (`X-Api-Key` or `Authorization: Bearer`)."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from rest_framework import authentication, exceptions

from .models import ApiKey, Tenant

# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


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


class ApiKeyAuthentication(authentication.BaseAuthentication):
    @sensitive_variables("raw")  # an error report (DEBUG page, HTML admin mail) must not show the key
    def authenticate(self, request):
        raw = raw_key_from(request)
        if raw is None:
            return None
        lookup = ApiKey.parse_lookup(raw)
        key = (
            ApiKey.objects.select_related("tenant").filter(lookup=lookup).first() if lookup is not None else None
        )
        if key is None or not key.matches(raw):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        request._request.tenant = key.tenant
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (not 403) with a WWW-Authenticate header when no key was sent.
        return 'Bearer realm="api"'
