"""HTTP routes of the media service; thin: parse → ``MediaService`` → response.

``build_router(settings)`` returns a router that owns its service (sources, caches,
pool); nothing is created at import. Errors are raised as ``media_svc.errors`` classes
and rendered by the gateway's one error handler, never cached.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from awsm.auth import require_role, verify_bearer
from awsm.errors import Forbidden, InvalidRequest, PayloadTooLarge, RequestTimeout
from awsm.settings import Settings
from media_svc.errors import SignatureInvalid
from media_svc.geometry import largest_width
from media_svc.http_cache import image_headers, not_modified
from media_svc.options import TransformSpec
from media_svc.service import Job, MediaService
from media_svc.signing import sign_path, srcset, url_path
from media_svc.supabase import refuse_other_spellings, render_source, render_spec
from media_svc.upload import store_upload, valid_tenant

__all__ = ["build_router"]

_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}, "image/avif": {}},
          "description": "The transformed image."},
    304: {"description": "Not modified (ETag or Last-Modified revalidation)."},
}
# The upload as OpenAPI tells it (the route reads the raw body itself): the bytes, the
# bearer token (the scheme is declared by the gateway, beside the Error schema), and the
# errors it answers with, in the JSON error shape.
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_UPLOAD_OPENAPI: dict[str, Any] = {
    "requestBody": {"required": True, "description": "The image file itself, not a form "
                    "(its type is sniffed from its bytes; Content-Type is ignored).",
                    "content": {"application/octet-stream": {
                        "schema": {"type": "string", "format": "binary"}}}},
    "security": [{"bearerAuth": []}],
}
_STORED = {"type": "object", "properties": {
    "source": {"type": "string", "description": "the path to sign image URLs for"},
    "format": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"},
    "bytes": {"type": "integer"}, "sha256": {"type": "string"},
    "url": {"type": ["string", "null"], "description": "signed, untransformed"},
    "srcset": {"type": ["string", "null"], "description": "signed widths, for <img srcset>"},
}}
_UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": _ERROR} for status, text in (
        (401, "No valid, unexpired bearer token"),
        (403, "The token's role may not upload, or carries no tenant"),
        (408, "The body did not arrive within AWSM_HTTP_BODY_TIMEOUT_S"),
        (413, "Over AWSM_MEDIA_MAX_UPLOAD_BYTES (or AWSM_MEDIA_MAX_SOURCE_BYTES), or the "
              "pixel or frame limits"),
        (415, "Not an image type that is allowed"),
        (422, "An image that cannot be decoded"))
}
_UPLOAD_RESPONSES[201] = {"description": "Stored",
                          "content": {"application/json": {"schema": _STORED}}}


async def _respond(service: MediaService, job: Job, request: Request) -> Response:
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    # Our own ETag names a variant that was made, so it is answered before any work;
    # '*' or a date is answered once the variant exists: either alone would give a URL
    # that fails (an original that is no image, an output over the limits) a 304.
    if if_none_match is not None and if_none_match.strip() != "*" \
            and not_modified(job.etag, job.original.modified, if_none_match, None):
        return _not_modified(job)
    variant = await service.variant(job)
    if not_modified(job.etag, job.original.modified, if_none_match, if_modified_since):
        return _not_modified(job)
    headers = image_headers(etag=job.etag, last_modified=job.original.modified,
                            media_type=variant.media_type, negotiated=job.negotiated,
                            cache_status=variant.cache_status, expires=job.expires,
                            now=time.time())
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(variant.data))
        return Response(status_code=200, headers=headers)
    return Response(variant.data, status_code=200, headers=headers)


def _not_modified(job: Job) -> Response:
    return Response(status_code=304, headers=image_headers(
        etag=job.etag, last_modified=job.original.modified, media_type=None,
        negotiated=job.negotiated, expires=job.expires, now=time.time()))


async def _read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, whole: at most ``limit`` bytes, arrived within ``timeout_s`` (a client
    trickling it would otherwise hold a connection and its buffer for ever)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:  # not "²"
        raise PayloadTooLarge(f"The upload is larger than {limit} bytes.")
    chunks: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(f"The upload is larger than {limit} bytes.")
                chunks.append(chunk)
    except TimeoutError as exc:
        raise RequestTimeout(f"The upload did not arrive within {timeout_s:g} s.",
                             headers={"Connection": "close"}) from exc
    except ClientDisconnect as exc:  # a cancelled upload: no answer is read, no bug to log
        raise InvalidRequest("The client went away before the upload ended.") from exc
    return b"".join(chunks)


def build_router(settings: Settings) -> APIRouter:
    service = MediaService(settings)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await service.aclose()

    router = APIRouter(tags=["media"], lifespan=lifespan)

    # HEAD shares the handler but stays out of the OpenAPI schema (one operation id each).
    @router.head("/v1/img/{signature}/{options}/{source:path}", include_in_schema=False)
    @router.get("/v1/img/{signature}/{options}/{source:path}", response_class=Response,
                responses=_IMAGE_RESPONSES,
                summary="A signed, transformed image (CDN-cacheable for a year, or until its exp_)")
    async def signed_image(signature: str, options: str, source: str,
                           request: Request) -> Response:
        if request.url.query:  # one URL per variant: no second CDN entry, no cache busting
            raise InvalidRequest("A signed image URL takes no query string.")
        # ...nor a second spelling of its path: the signature covers the decoded text
        raw_path = request.scope.get("raw_path")
        if raw_path is not None and not raw_path.decode("latin-1").endswith(
                url_path(signature, options, source)):
            raise SignatureInvalid("The URL is not written as sign_path() writes it; "
                                   "do not re-encode it.")
        job = await service.signed_job(signature, options, source,
                                       request.headers.get("accept"))
        return await _respond(service, job, request)

    if settings.media_supabase_render:
        _add_render_route(router, service, settings)
    _add_upload_route(router, service, settings)
    return router


def _refuse_repeats(request: Request, allowed: frozenset[str] | None = None) -> None:
    """A parameter given twice is ambiguous (which width? which tenant?): a 400, as on
    /v1/search, instead of the framework silently keeping the last; so is one not in
    ``allowed`` (when given), instead of being ignored."""
    params = request.query_params
    repeated = sorted(k for k in params if len(params.getlist(k)) > 1)
    if repeated:
        raise InvalidRequest(f"'{repeated[0][:40]}' may be given once.")
    unknown = sorted(set(params) - allowed) if allowed is not None else []
    if unknown:
        raise InvalidRequest(f"Unknown parameter '{unknown[0][:40]}'; allowed: "
                             f"{', '.join(sorted(allowed or ()))}.")


def _add_render_route(router: APIRouter, service: MediaService, settings: Settings) -> None:
    sizes, qualities = service.render_sizes, service.render_qualities
    origin = settings.media_render_origin

    @router.head("/storage/v1/render/image/public/{bucket}/{path:path}",
                 include_in_schema=False)
    @router.get("/storage/v1/render/image/public/{bucket}/{path:path}", response_class=Response,
                responses=_IMAGE_RESPONSES,
                summary="Supabase Storage-compatible image render (public buckets)")
    async def supabase_render(bucket: str, path: str, request: Request) -> Response:
        _refuse_repeats(request)
        refuse_other_spellings(request.scope.get("query_string", b""))
        spec = render_spec(request.query_params, sizes=sizes, qualities=qualities)
        source = render_source(origin, bucket, path)
        job = await service.job(spec, source, request.headers.get("accept"))
        return await _respond(service, job, request)


def _add_upload_route(router: APIRouter, service: MediaService, settings: Settings) -> None:
    widths = service.srcset_widths

    @router.post("/v1/media", status_code=201, openapi_extra=_UPLOAD_OPENAPI,
                 responses=_UPLOAD_RESPONSES,
                 summary="Upload an original (admins): returns its source path and srcset")
    async def upload(request: Request, name: str | None = None,
                     tenant_id: str | None = None) -> JSONResponse:
        if len(request.headers.getlist("authorization")) > 1:  # which one? neither
            raise InvalidRequest("'Authorization' may be given once.")
        principal = require_role(verify_bearer(request.headers.get("authorization"), settings))
        _refuse_repeats(request, allowed=frozenset({"name", "tenant_id"}))
        tenant = principal.tenant_id
        if tenant_id == "":
            raise InvalidRequest("'tenant_id' may not be empty; leave it out for the "
                                 "token's own tenant.")
        if tenant_id is not None and tenant_id != tenant:
            if principal.role != "super_admin":
                raise Forbidden("Only a super_admin may upload into another tenant.")
            tenant = tenant_id
        if not tenant:
            raise Forbidden("The token carries no tenant_id; add it to app_metadata.")
        valid_tenant(tenant)
        # an original over the source limit would be stored, then refused by every URL
        # answered for it (413 source_too_large)
        limit = min(settings.media_max_upload_bytes, settings.media_max_source_bytes)
        data = await _read_body(request, limit, settings.http_body_timeout_s)
        stored = await service.pool.run(
            store_upload, data, name=name, tenant=tenant,
            root=settings.resolved_media_root, limits=service.limits)
        # every URL answered must be servable: the original untouched only when its own
        # size is within the output limits, otherwise the widest width that is
        size = (stored.width, stored.height)
        largest = largest_width(size, service.limits.max_output_pixels)
        assert largest is not None  # store_upload refuses an image no width of serves
        fitting = [w for w in widths if w < largest] + [largest]
        whole = "_" if largest == stored.width else TransformSpec(width=largest)
        body: dict[str, Any] = {
            "source": stored.source, "format": stored.format, "width": stored.width,
            "height": stored.height, "bytes": stored.bytes, "sha256": stored.sha256,
            "url": None, "srcset": None,
        }
        if service.keys:  # no key (a misconfigured demo): stored, but nothing to sign
            body["url"] = sign_path(service.keys, whole, stored.source)
            body["srcset"] = srcset(service.keys, stored.source, fitting)
        return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})
