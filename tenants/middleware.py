"""Request ids (echo the client's X-Request-ID, or make one, so a call can be traced through logs), a 503 for a
lost database, a refusal of oversize bodies before anything reads them, and browser-only middleware that
the key-authenticated REST API skips."""
from __future__ import annotations

import logging
import re
import uuid

from axes.middleware import AxesMiddleware
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse, JsonResponse

from .api.errors import (
    DATABASE_DOWN, RETRY_AFTER_SECONDS, DatabaseUnavailable, declared_length, error_body, payload_too_large,
)

log = logging.getLogger(__name__)

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


class DatabaseUnavailableMiddleware:
    """Answer 503 with Retry-After, not 500, when a page (outside the API) loses the database.

    The API's exception handler does the same for API views (tenants/api/errors.py).
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if not isinstance(exc, DATABASE_DOWN):
            return None
        log.warning("database unavailable on %s: %s: %s", request.path, exc.__class__.__name__, exc)
        detail = DatabaseUnavailable.default_detail
        response = JsonResponse(error_body(DatabaseUnavailable.default_code, str(detail)), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class BodySizeLimitMiddleware:
    """Answer 413 to a body declared larger than DATA_UPLOAD_MAX_MEMORY_SIZE, unread.

    Django checks that limit only for non-file fields, and only once something reads the body; the CSRF
    check reads every form POST, so a huge web UI upload would otherwise be spooled to disk first.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        length = declared_length(request)
        if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None and length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            message = str(payload_too_large(length).detail)
            if request.path.startswith("/api/"):
                return JsonResponse(error_body("payload_too_large", message), status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


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


class BrowserAxesMiddleware(BrowserOnly, AxesMiddleware):
    """Login throttling's lockout page; the API authenticates with keys and never logs in."""
