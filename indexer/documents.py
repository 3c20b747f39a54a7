"""A re-read row → its ``Document``: pure, no I/O. The row is what
``Mapping.select_documents`` selects; the text of each field is read as the mapping says
(``indexer.text``), the url filled from the row's and its tenant's columns."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from indexer.mapping import URL_FIELD, DocumentSource
from indexer.text import blocks_to_text, facet_text, html_to_text, plain_text
from search_svc.engines.base import Document
from search_svc.locales import canonical_locale

__all__ = ["fill_url", "row_to_document"]


def fill_url(template: str, values: dict[str, Any]) -> str:
    """``template`` with each ``{column}`` (or ``{tenant.column}``) replaced by its value in
    ``values``, percent-encoded
    (a slug is data: its ':', '?', '#', '\\', spaces and quotes never become URL syntax,
    so "javascript:..." stays a relative path); '/' is kept for nested slugs. A
    site-relative template never yields '//host...', which browsers read as another site.
    A placeholder whose value is NULL or empty gives no URL at all (""): "/blogs/" would
    link the hit to the listing page instead of the row."""
    if any(values.get(name) in (None, "") for name in URL_FIELD.findall(template)):
        return ""
    url = URL_FIELD.sub(lambda m: quote(str(values.get(m.group(1))), safe="/"), template)
    if template.startswith("/") and not template.startswith("//"):
        url = "/" + url.lstrip("/")
    return url


def _read_text(value: Any, text_format: str) -> str:
    """A body or summary column's words: HTML reduced to what a visitor reads, or plain
    text as written (where "<" and "&" are words, not markup); a builder's saved page
    (``body_blocks``: JSON other than a string) the words of its blocks."""
    if isinstance(value, (dict, list)):
        return blocks_to_text(value)
    return html_to_text(str(value or "")) if text_format == "html" else plain_text(str(value or ""))


def row_to_document(src: DocumentSource, row: tuple[Any, ...]) -> Document | None:
    """A row from ``Mapping.select_documents`` → its Document, or None when not visible."""
    (row_id, tenant_id, title, body, summary, tags, category, locale, image, published,
     visible, *url_values) = row
    if not visible:
        return None
    url_fields = dict(zip(src.url_columns, url_values, strict=True))
    url = fill_url(src.url, url_fields)
    return Document(
        key=f"{src.type}:{row_id}", id=str(row_id), tenant_id=str(tenant_id), type=src.type,
        # a title is plain text (AWCMS escapes it where it shows it); body and summary
        # may hold HTML (the words a visitor reads) or, as mapped, plain text
        title=plain_text(str(title or "")), body=_read_text(body, src.body_format),
        summary=_read_text(summary, src.summary_format),
        # each tag once; as filter values can be written (search_svc.params)
        tags=tuple(dict.fromkeys(facet_text(str(t)) for t in (tags or ()) if t)),
        category=facet_text(category) if category else None,
        # a tag in one form; any other text kept, as a filter can send it back
        locale=canonical_locale(facet_text(str(locale or ""))), image=image or None, url=url,
        published_at=int(published or 0),
    )
