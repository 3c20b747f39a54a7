"""The media service's request flow: verify → locate the original → key → cache or make.

Owns the sources, the derived cache, single flight and the transform pool that one
router uses; nothing here is global. It knows no HTTP framework: routes hand it
strings and get back small records.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import warnings
from dataclasses import dataclass, replace
from typing import BinaryIO

from PIL import AvifImagePlugin, Image

from awsm.errors import ConfigError
from awsm.settings import Settings
from media_svc.cache import DiskCache, SingleFlight
from media_svc.errors import OriginUnavailable, SourceForbidden
from media_svc.options import MAX_DIMENSION, TransformSpec, accept_class, accept_for_class
from media_svc.pool import TransformPool
from media_svc.signing import verify_url
from media_svc.sniff import EXTENSIONS, MEDIA_TYPES
from media_svc.sources import Original, Source
from media_svc.sources.http import HttpSource, parse_origins
from media_svc.sources.local import LocalSource
from media_svc.supabase import parse_int_list
from media_svc.transform import PIPELINE_VERSION, Limits, Rendition, render

__all__ = ["Job", "MediaConfig", "MediaService", "Variant", "media_config"]

log = logging.getLogger("awsm.media")
_TYPE_BY_EXTENSION = {ext: MEDIA_TYPES[fmt] for fmt, ext in EXTENSIONS.items()}


@dataclass(frozen=True, slots=True)
class Job:
    """One variant of one original, identified before any pixel work."""

    spec: TransformSpec
    source: str
    original: Original
    accept_class: str
    key: str
    expires: int | None = None  # a signed URL's expiry (Unix time): cacheable until then

    @property
    def etag(self) -> str:
        return f'"{self.key}"'

    @property
    def negotiated(self) -> bool:
        return self.spec.format == "auto"


@dataclass(frozen=True, slots=True)
class Variant:
    data: bytes
    media_type: str
    cache_status: str  # HIT, MISS or SHARED (waited on an identical request)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_source_pixels=settings.media_max_source_pixels,
        max_output_pixels=settings.media_max_output_pixels,
        max_frames=settings.media_max_frames,
        timeout_s=settings.media_transform_timeout_s,
        avif_speed=settings.media_avif_speed,
        strip_metadata=settings.media_strip_metadata,
    )


def _int_list(name: str, raw: str, problems: list[str], *, most: int = MAX_DIMENSION,
              example: str = "320,640,1280") -> frozenset[int]:
    try:
        values = parse_int_list(raw)
    except ValueError:
        values = frozenset()
    if not values or min(values) < 1 or max(values) > most:
        problems.append(f"AWSM_{name.upper()} must be comma-separated whole numbers between 1 "
                        f"and {most}, e.g. {example}.")
    return values


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """The media settings that must fit together, parsed."""

    keys: list[tuple[str, bytes]]
    prefixes: list[str]
    render_sizes: frozenset[int]
    render_qualities: frozenset[int]
    srcset_widths: list[int]


def media_config(settings: Settings) -> MediaConfig:
    """Parse the media lists and origins; every bad one is reported at once
    (``ConfigError``). Pure, so ``awsm up`` can tell before it starts anything."""
    problems: list[str] = []
    keys: list[tuple[str, bytes]] = []
    prefixes: list[str] = []
    try:
        keys = settings.signing_key_list
    except ValueError as exc:
        problems.append(str(exc))
    try:
        prefixes = parse_origins(settings.media_http_origins)
    except ValueError as exc:
        problems.append(str(exc))
    render_sizes = _int_list("media_render_widths", settings.media_render_widths, problems)
    render_qualities = _int_list("media_render_qualities", settings.media_render_qualities,
                                 problems, most=100, example="50,75,80,90")
    srcset_widths = sorted(_int_list("media_srcset_widths", settings.media_srcset_widths,
                                     problems))
    origin = settings.media_render_origin
    if origin and not any(origin.startswith(p) for p in prefixes):
        problems.append("AWSM_MEDIA_RENDER_ORIGIN must lie under one of "
                        "AWSM_MEDIA_HTTP_ORIGINS and end in '/'.")
    if problems:
        raise ConfigError(problems)
    return MediaConfig(keys, prefixes, render_sizes, render_qualities, srcset_widths)


class MediaService:
    def __init__(self, settings: Settings) -> None:
        # Every bad media variable is reported at once, and the service refuses to start.
        config = media_config(settings)
        prefixes = config.prefixes
        self.keys = config.keys
        self.render_sizes = config.render_sizes
        self.render_qualities = config.render_qualities
        self.srcset_widths = config.srcset_widths
        self.settings = settings
        self.limits = limits_from(settings)
        # Settings that change a variant's bytes belong in its key: the derived cache
        # outlives a restart, and a variant made while EXIF was kept must not be served,
        # nor its ETag revalidated, once metadata is stripped.
        self._output_settings = (f"meta_{int(not self.limits.strip_metadata)},"
                                 f"avif_{self.limits.avif_speed}")
        # Pillow only warns past its pixel limit; a warning is not a refusal. (A process
        # filter: harmless to everything else, since nothing else should decode bombs.)
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        # The pool, not a decoder, decides how many cores image work may take (AVIF is
        # encoded on one thread too): Pillow's AVIF decoder otherwise starts one thread
        # per CPU for every image it opens, 64 per request on a 64-core host.
        AvifImagePlugin.DEFAULT_MAX_THREADS = 1
        self.local = LocalSource(settings.resolved_media_root,
                                 max_bytes=settings.media_max_source_bytes)
        cache_dir = settings.resolved_media_cache_dir
        self.derived = DiskCache(cache_dir / "derived", settings.media_cache_max_bytes)
        self.http: HttpSource | None = None
        if prefixes:
            self.http = HttpSource(
                prefixes, DiskCache(cache_dir / "originals", settings.media_origin_cache_max_bytes),
                max_bytes=settings.media_max_source_bytes, timeout_s=settings.media_http_timeout_s,
                ttl_s=settings.media_origin_ttl_s,
                allow_private=settings.media_allow_private_addresses,
            )
        self.pool = TransformPool(workers=settings.media_max_concurrent,
                                  queue_size=settings.media_queue_size)
        self._flights: SingleFlight[Variant] = SingleFlight()

    def source_for(self, name: str) -> Source:
        if name.startswith(("http://", "https://")):
            if self.http is None:
                raise SourceForbidden("No HTTP origins are configured (AWSM_MEDIA_HTTP_ORIGINS).")
            return self.http
        return self.local

    async def signed_job(self, signature: str, options: str, source: str,
                         accept: str | None) -> Job:
        """Check the signature first: a bad URL costs an HMAC, never a file or a fetch."""
        spec, expires = verify_url(self.keys, signature, options, source)
        return replace(await self.job(spec, source, accept), expires=expires)

    async def job(self, spec: TransformSpec, source: str, accept: str | None) -> Job:
        original = await self.source_for(source).fetch(source)
        klass = accept_class(accept) if spec.format == "auto" else ""
        # The signature and expiry stay out of the key: rotating keys or re-minting a
        # URL with a new expiry reuses the variant already made.
        material = "\0".join((PIPELINE_VERSION, self._output_settings, spec.canonical(), klass,
                              source, original.version))
        key = hashlib.sha256(material.encode()).hexdigest()[:40]
        return Job(spec, source, original, klass, key)

    async def variant(self, job: Job) -> Variant:
        entry = self.derived.get(job.key)
        if entry is not None:
            try:  # off the event loop: a variant can be tens of MB (a 16 MP PNG)
                data = await asyncio.to_thread(entry.path.read_bytes)
            except FileNotFoundError:
                self.derived.discard(job.key, only=entry)
            else:
                media_type = _TYPE_BY_EXTENSION.get(entry.path.suffix.lstrip("."), "image/jpeg")
                return Variant(data, media_type, "HIT")
        variant, shared = await self._flights.run(job.key, lambda: self._make(job))
        return Variant(variant.data, variant.media_type, "SHARED") if shared else variant

    async def _make(self, job: Job) -> Variant:
        # Opened before it waits for a thread: an HTTP original can be evicted from its
        # cache meanwhile (a burst of originals over AWSM_MEDIA_ORIGIN_CACHE_MAX_BYTES),
        # and an open file outlives its name. One evicted before this point is fetched
        # once more; a local one deleted since is a 404 from that fetch.
        try:
            held = job.original.path.open("rb")
        except FileNotFoundError:
            job = replace(job, original=await self.source_for(job.source).fetch(job.source))
            try:
                held = job.original.path.open("rb")
            except FileNotFoundError as exc:
                raise OriginUnavailable(detail=str(exc)) from exc
        with held:
            rendition = await self.pool.run(self._render_and_store, job, held)
        return Variant(rendition.data, rendition.media_type, "MISS")

    def _render_and_store(self, job: Job, original: BinaryIO) -> Rendition:
        rendition = render(original, job.spec, accept_for_class(job.accept_class), self.limits)
        try:
            self.derived.put(job.key, rendition.data, EXTENSIONS[rendition.format])
        except OSError as exc:
            # A full or failing disk costs the cache, not the answer: served uncached.
            log.warning("derived cache: cannot store %s: %s", job.key, exc)
        return rendition

    async def aclose(self) -> None:
        self.pool.shutdown()
        if self.http is not None:
            await self.http.aclose()
