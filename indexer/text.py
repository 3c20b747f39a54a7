"""Pure: AWCMS stores rich text as HTML; the index wants the words a visitor reads.

``html_to_text`` drops tags, scripts and styles, decodes entities and keeps block
boundaries as line breaks, so snippets never show markup and never split words.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

_BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr",
          "td", "th", "table", "section", "article", "blockquote", "pre", "figure",
          "figcaption", "header", "footer", "hr"}
_SKIP = {"script", "style", "template", "noscript", "svg", "iframe"}
_SPACES = re.compile(r"[ \t\r\f\v]+")
_LINES = re.compile(r"\n\s*\n+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    if "<" not in value and "&" not in value:
        return value.strip()
    parser = _Text()
    parser.feed(value)
    parser.close()
    text = _SPACES.sub(" ", "".join(parser.parts))
    return _LINES.sub("\n", "\n".join(line.strip() for line in text.split("\n"))).strip()
