"""Pure: AWCMS stores rich text as HTML; the index wants the words a visitor reads.

``plain_text`` is for the fields AWCMS keeps as plain text and escapes when it shows
them (titles): control characters dropped, whitespace collapsed, nothing parsed, so
"Kopi & Teh <Tanpa Gula>" stays what the site's own pages show.

``facet_text`` is for tags and category names: the search API refuses control
characters in a filter value, so each becomes a space, and values longer than a filter
may be are cut to that length: every facet value it shows can be sent back as a filter.
Nothing else changes (surrounding spaces are kept).

``html_to_text`` drops tags, comments, scripts and styles, decodes entities and keeps
block boundaries as line breaks, so snippets never show markup and never split words.

It reads the text once, in linear time. The standard library's ``html.parser`` (as of
Python 3.11.7) takes quadratic time on unterminated constructs: 9 s for 40 kB of
``<a ``, hours for 1 MB, while one such row holds up indexing for every tenant. As in a
browser, a tag, comment or script that never ends hides the rest of the text.
"""

from __future__ import annotations

import html
import re
from typing import Any

from awsm.text import CONTROL_CHARS
from search_svc.params import MAX_VALUE_CHARS

__all__ = ["blocks_to_text", "facet_text", "html_to_text", "plain_text"]

_BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
          "td", "th", "table", "section", "article", "blockquote", "pre", "figure",
          "figcaption", "header", "footer", "hr"}
_SKIP = {"script", "style", "template", "noscript", "svg", "iframe"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n\s*\n+")
# C0/C1 control characters (those that are whitespace have been split on first)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_NAME = re.compile(r"(/?)([A-Za-z][^\s/>]*)")
# The rest of a tag, to its '>': a quoted attribute value may hold '>'. Each alternative
# starts differently and the repetition is possessive, so a tag that never ends costs
# one scan to the end of the text, never a backtracking search.
_REST = re.compile(r"""(?:[^>=]|=\s*+"[^"]*+"|=\s*+'[^']*+'|=)*+>""")
# script and style hold raw text up to their end tag (as html.parser and browsers read them)
_RAW_END = {name: re.compile(rf"</{name}(?=[\s/>])", re.IGNORECASE)
            for name in ("script", "style")}


def html_to_text(value: str) -> str:
    if "<" not in value and "&" not in value:
        return value.strip()
    parts: list[str] = []
    skip = 0  # inside this many elements whose text is not read (_SKIP)
    i, n = 0, len(value)
    last_gt = value.rfind(">")  # so a '</' with no '>' after it is known without a search
    while i < n:
        j = value.find("<", i)
        if j == -1:
            j = n
        if j > i and not skip:
            parts.append(html.unescape(value[i:j]))
        if j == n:
            break
        if value.startswith("<!--", j):
            end = value.find("-->", j + 4)
            i = n if end == -1 else end + 3
            continue
        if value.startswith(("<!", "<?"), j):  # doctype, CDATA, processing instruction
            end = value.find(">", j + 2)
            i = n if end == -1 else end + 1
            continue
        name = _NAME.match(value, j + 1)
        if name is None:  # '<' not opening a tag is text ("a < b"); '</3>' is dropped
            end = value.find(">", j + 2) if value.startswith("</", j) and j < last_gt else -1
            if end == -1:
                if not skip:
                    parts.append("<")
                i = j + 1
            else:
                i = end + 1
            continue
        rest = _REST.match(value, name.end())
        if rest is None:
            break  # a tag that never ends: the rest of the text is inside it
        i = rest.end()
        closing, tag = name.group(1) == "/", name.group(2).lower()
        if tag in _BLOCK:
            parts.append("\n")
        if tag not in _SKIP:
            continue
        if closing:
            skip = max(0, skip - 1)
        elif value[i - 2] != "/":  # not '<svg/>'
            skip += 1
            raw_end = _RAW_END.get(tag)
            if raw_end is not None:  # to the end tag, read next as a tag (skip - 1)
                found = raw_end.search(value, i)
                i = n if found is None else found.start()
    text = _SPACES.sub(" ", "".join(parts))
    return _LINES.sub("\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


# Keys of a visual builder's block props that hold no words a visitor reads (compared
# without case), and string values that are a link, a path or an anchor
_NOT_WORDS = frozenset({
    "id", "key", "type", "image", "images", "src", "srcset", "href", "url", "link", "icon",
    "classname", "class", "style", "variant", "align", "alignment", "color", "colour",
    "background", "size", "width", "height", "layout", "theme", "slug", "target", "rel",
    "mode", "position", "anchor", "video", "embed", "code", "fit", "ratio", "font",
})
_NOT_TEXT = re.compile(r"(?:[a-z][a-z0-9+.-]*://|mailto:|tel:|data:|/\S|#\S)", re.IGNORECASE)


def blocks_to_text(value: Any) -> str:
    """A page as a visual builder saved it (Puck's ``{"root", "content": [{"type",
    "props"}], "zones"}``, or any JSON) → the words its blocks show: every string in it,
    read as HTML, one block a line, each text once, but those under keys that hold no
    words (ids, links, images, styles: ``_NOT_WORDS``) and those that are links or
    paths. Read without recursion, in document order: a nesting thousands deep is a row
    like any other."""
    out: dict[str, None] = {}  # each text once: the page's title is its hero's too
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, str):
            if key.lower() not in _NOT_WORDS and not _NOT_TEXT.match(node.lstrip()):
                text = html_to_text(node)
                if text:
                    out[text] = None
        elif isinstance(node, dict):
            stack.extend(reversed([(str(k), v) for k, v in node.items()]))
        elif isinstance(node, list):
            stack.extend(reversed([(key, v) for v in node]))
    return "\n".join(out)


def plain_text(value: str) -> str:
    """``value`` as plain text: its words as written, one space between them."""
    words = (_CONTROL.sub("", word) for word in value.split())
    return " ".join(word for word in words if word)


def facet_text(value: str) -> str:
    """A tag or category name as a filter value can be written (``search_svc.params``):
    each control character (C0, DEL, C1) a space, cut at ``MAX_VALUE_CHARS``. Cut here,
    every engine and the vector store hold (and count in facets) the same value, one a
    visitor can send back as a filter."""
    return CONTROL_CHARS.sub(" ", value[:MAX_VALUE_CHARS])
