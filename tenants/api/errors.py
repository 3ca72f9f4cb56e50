"""One error format for every API response: {"error": {"code", "message", "detail"}}."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class DatabaseUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = (
        "The database is unavailable right now. Retry the same request shortly: events that carry an event_id "
        "are stored once however often they are sent."
    )
    default_code = "database_unavailable"


# A lost or refused connection, a restart, a statement cancelled or a deadlock: the client may retry.
DATABASE_DOWN = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def declared_length(request) -> int:
    """Return the request's Content-Length, or 0 when it is missing or not a number."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def payload_too_large(length: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is {length} bytes; the limit is {settings.DATA_UPLOAD_MAX_MEMORY_SIZE}.")


def _first_message(detail: Any, path: str = "") -> str:
    """Return the first error as 'field: message' so a client sees which field is wrong."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = path if key in ("non_field_errors", "detail") else (f"{path}.{key}" if path else str(key))
            return _first_message(value, name)
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                nested = isinstance(value, (dict, list))
                return _first_message(value, f"{path}[{index}]" if nested else path)
        return f"{path}: invalid" if path else "invalid"
    return f"{path}: {detail}" if path else str(detail)


def error_body(code: str, message: str, detail: Any = None) -> dict:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if detail is not None:
        body["error"]["detail"] = detail
    return body


def not_found(request, exception=None):
    """The 404 of a URL that matches no route: JSON in the error format under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", f"No endpoint at {request.path}."), status=404)
    return page_not_found(request, exception)


def exception_handler(exc, context):
    # Turn Django's own exceptions into DRF's, so they get the error body too. Django refuses an oversize
    # body when DRF reads it; left alone, that is a bare HTML 400, and a 404 would be {"detail": ...}.
    if isinstance(exc, RequestDataTooBig):
        exc = payload_too_large(declared_length(context["request"]))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, DATABASE_DOWN):
        log.warning("database unavailable: %s: %s", exc.__class__.__name__, exc)
        exc = DatabaseUnavailable()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", _first_message(exc.detail), response.data)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, _first_message(exc.detail))
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
