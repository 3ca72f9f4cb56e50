"""Scope checks for API keys: reads need `read`; writes need the view's `write_scope`."""
from __future__ import annotations

from rest_framework import permissions

from .models import ApiKey, Scope


def required_scope(request, view) -> str:
    if request.method in permissions.SAFE_METHODS:
        return getattr(view, "read_scope", Scope.READ)
    return getattr(view, "write_scope", Scope.ADMIN)


class HasScope(permissions.BasePermission):
    message = "This API key lacks the scope this request needs."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        scope = required_scope(request, view)
        if not key.has_scope(scope):
            self.message = f"This API key lacks the '{scope}' scope this request needs."
            return False
        return True
