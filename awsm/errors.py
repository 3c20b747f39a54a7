"""The one error root of awsm and the HTTP-facing classes every service builds on.

Each class declares its HTTP ``status``, a stable machine ``code`` and a public
message. Internal detail (``detail``) is for logs only and never reaches a client;
the gateway renders every error as ``{"error": {"code": ..., "message": ...}}``.

    AwsmError (500 internal)
    ├── InvalidRequest (400 invalid_request)
    ├── Unauthorized (401 unauthorized)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── Unprocessable (422 unprocessable)
    ├── TooManyRequests (429 too_many_requests)
    ├── ServiceUnavailable (503 unavailable)
    └── ConfigError (configuration problems found at start; never served)
"""

from __future__ import annotations

__all__ = [
    "AwsmError",
    "ConfigError",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "RequestTimeout",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
    "Unprocessable",
]


class AwsmError(Exception):
    status: int = 500
    code: str = "internal"
    message: str = "Internal error."

    def __init__(self, message: str | None = None, *, detail: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.public_message = message or self.message
        self.detail = detail
        self.headers = headers or {}
        super().__init__(detail or self.public_message)

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.public_message}}


class InvalidRequest(AwsmError):
    status, code, message = 400, "invalid_request", "The request is not valid."


class Unauthorized(AwsmError):
    status, code, message = 401, "unauthorized", "Authentication is required."


class Forbidden(AwsmError):
    status, code, message = 403, "forbidden", "Not allowed."


class NotFound(AwsmError):
    status, code, message = 404, "not_found", "Not found."


class RequestTimeout(AwsmError):
    status, code, message = 408, "request_timeout", "The request did not arrive in time."


class PayloadTooLarge(AwsmError):
    status, code, message = 413, "payload_too_large", "The payload is too large."


class UnsupportedMediaType(AwsmError):
    status, code, message = 415, "unsupported_media_type", "The media type is not supported."


class Unprocessable(AwsmError):
    status, code, message = 422, "unprocessable", "The input could not be processed."


class TooManyRequests(AwsmError):
    status, code, message = 429, "too_many_requests", "Too many requests; retry later."


class ServiceUnavailable(AwsmError):
    status, code, message = 503, "unavailable", "The service is temporarily unavailable."


class ConfigError(AwsmError):
    """Raised at start-up when settings are invalid; lists every problem at once."""

    code = "config"

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n  - " + "\n  - ".join(problems))
