"""Request ids, and browser-only middleware that the key-authenticated REST API skips."""
from __future__ import annotations

import re
import uuid

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware

VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Requests here authenticate with an API key (tenants/authentication.py), never a session cookie.
API_PREFIX = "/api/v1/"


class RequestIdMiddleware:
    """Echo the client's X-Request-ID (or make one) so a call can be traced through logs."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        given = request.META.get("HTTP_X_REQUEST_ID", "")
        request.request_id = given if VALID.match(given) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class BrowserOnly:
    """Mixin: pass API requests straight through; sessions, users and flash messages are for pages."""

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        return super().__call__(request)


# Subclasses (not wrappers), so Django's admin checks still find the middleware they need.
class BrowserSessionMiddleware(BrowserOnly, SessionMiddleware):
    pass


class BrowserAuthenticationMiddleware(BrowserOnly, AuthenticationMiddleware):
    pass


class BrowserMessageMiddleware(BrowserOnly, MessageMiddleware):
    pass
