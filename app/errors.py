"""Errors the API reports, raised by the domain layer.

Each carries the HTTP status and a machine-readable code; the HTTP layer
turns any of them into the one error shape
``{"error": {"code", "message", "details", "request_id"}}``.
"""

from __future__ import annotations

from typing import Any


def error_document(code: str, message: str, details: Any, request_id: str | None) -> dict[str, Any]:
    """The one error shape every refusal is sent in (by Flask's handlers and the fast write path)."""
    return {"error": {"code": code, "message": message, "details": details, "request_id": request_id}}


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Any = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details if details is not None else []
        if code:
            self.code = code

    @classmethod
    def field(cls, pointer: str, message: str, code: str | None = None) -> ApiError:
        """An error about one input field, named by its JSON pointer or parameter."""
        return cls(message, [{"pointer": pointer, "message": message}], code=code)


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    status, code = 422, "validation_failed"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, [{"retry_after": retry_after}])
        self.retry_after = retry_after


class Unavailable(ApiError):
    status, code = 503, "unavailable"
