"""The media service's errors: each one an ``awsm.errors`` class with a stable code.

The gateway renders them as ``{"error": {"code", "message"}}`` and never caches them.
Messages are public; anything about the file system or the origin goes in ``detail``.

    awsm.errors.AwsmError
    ├── InvalidRequest
    │   ├── InvalidOptions (400 invalid_options)
    │   └── InvalidSource (400 invalid_source)
    ├── Forbidden
    │   ├── SignatureInvalid (403 signature_invalid)
    │   ├── SignatureExpired (403 signature_expired)
    │   └── SourceForbidden (403 source_forbidden)
    ├── NotFound
    │   └── SourceNotFound (404 source_not_found)
    ├── PayloadTooLarge
    │   ├── SourceTooLarge (413 source_too_large)
    │   └── OutputTooLarge (413 output_too_large)
    ├── UnsupportedMediaType
    │   └── UnsupportedFormat (415 unsupported_format)
    ├── Unprocessable
    │   ├── ImageDecodeError (422 image_invalid)
    │   └── TransformTimeout (422 transform_timeout)
    ├── TooManyRequests
    │   └── TransformQueueFull (429 transform_queue_full)
    └── ServiceUnavailable
        ├── OriginUnavailable (503 origin_unavailable)
        ├── CacheUnavailable (503 cache_unavailable)
        └── StorageUnavailable (503 storage_unavailable)
"""

from __future__ import annotations

from awsm.errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
    UnsupportedMediaType,
)

__all__ = [
    "CacheUnavailable",
    "ImageDecodeError",
    "InvalidOptions",
    "InvalidSource",
    "OriginUnavailable",
    "OutputTooLarge",
    "SignatureExpired",
    "SignatureInvalid",
    "SourceForbidden",
    "SourceNotFound",
    "SourceTooLarge",
    "StorageUnavailable",
    "TransformQueueFull",
    "TransformTimeout",
    "UnsupportedFormat",
]


class InvalidOptions(InvalidRequest):
    code, message = "invalid_options", "The transform options are not valid."


class InvalidSource(InvalidRequest):
    code, message = "invalid_source", "The source path is not valid."


class SignatureInvalid(Forbidden):
    code, message = "signature_invalid", "The URL signature is missing or does not match."


class SignatureExpired(Forbidden):
    code, message = "signature_expired", "The signed URL has expired."


class SourceForbidden(Forbidden):
    code, message = "source_forbidden", "The source is not allowed."


class SourceNotFound(NotFound):
    code, message = "source_not_found", "The source image does not exist."


class SourceTooLarge(PayloadTooLarge):
    code, message = "source_too_large", "The source image is too large."


class OutputTooLarge(PayloadTooLarge):
    code, message = "output_too_large", "The requested output is too large."


class UnsupportedFormat(UnsupportedMediaType):
    code, message = "unsupported_format", "The image format is not supported."


class ImageDecodeError(Unprocessable):
    code, message = "image_invalid", "The image is damaged or not a valid image."


class TransformTimeout(Unprocessable):
    code, message = "transform_timeout", "The image took too long to transform."


class TransformQueueFull(TooManyRequests):
    code, message = "transform_queue_full", "Too many images are being transformed; retry shortly."


class OriginUnavailable(ServiceUnavailable):
    code, message = "origin_unavailable", "The image origin could not be reached."


class CacheUnavailable(ServiceUnavailable):
    code, message = "cache_unavailable", "The fetched image could not be stored; retry shortly."


class StorageUnavailable(ServiceUnavailable):
    code, message = "storage_unavailable", "The upload could not be stored; retry shortly."
