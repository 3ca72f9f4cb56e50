"""One error format for every API response: {"error": {"code", "message", "detail"}}."""
from __future__ import annotations

from typing import Any

from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


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


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", _first_message(exc.detail), response.data)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = error_body(code, _first_message(exc.detail))
    return response
