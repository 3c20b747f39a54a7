"""Composes demo articles (title, HTML body, excerpt, tags) from the hand-written topic material.

Pure and deterministic: every choice comes from the ``random.Random`` it is given, so
one seed always yields the same text. Knows nothing about tables or the database.
"""

from __future__ import annotations

import html
import random
import re
import unicodedata
from dataclasses import dataclass
from types import ModuleType

from gateway.demo import texts_en, texts_id

__all__ = ["Article", "Composer", "slugify", "text_of_html"]

_NUMBERS = (3, 5, 7, 8, 10, 12, 15, 20, 25, 30, 40, 45)
_SLOT = re.compile(r"\{(kota|nama|angka|tahun|bulan)\}")
_TAG = re.compile(r"<[^>]+>")
_TITLE_VARIANTS = {
    "id": (" di {kota}", ": Catatan dari {kota}", " (Edisi {bulan} {tahun})", ", Kata {nama}"),
    "en": (
        " ({kota} Edition)",
        ": Lessons from {kota}",
        " ({bulan} {tahun} Update)",
        ", by {nama}",
    ),
}


@dataclass(frozen=True)
class Article:
    title: str
    html: str
    excerpt: str
    tags: tuple[str, ...]
    topic: str
    language: str


def slugify(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")[:80] or "item"


def text_of_html(markup: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", markup)).split())


class Composer:
    """Writes articles in one language; ``topics`` are the keys of that language's material."""

    def __init__(self, rng: random.Random, language: str) -> None:
        self.rng = rng
        self.language = language
        self.texts: ModuleType = texts_id if language == "id" else texts_en
        self.topics = tuple(self.texts.SENTENCES)
        self._used: set[str] = set()

    def fill(self, template: str) -> str:
        def pick(match: re.Match[str]) -> str:
            slot = match.group(1)
            if slot == "kota":
                return self.rng.choice(texts_id.CITIES)
            if slot == "nama":
                return self.rng.choice(self.texts.NAMES)
            if slot == "angka":
                return str(self.rng.choice(_NUMBERS))
            if slot == "tahun":
                return str(self.rng.choice((2025, 2026)))
            return self.rng.choice(self.texts.MONTHS)

        return _SLOT.sub(pick, template)

    def title(self, topic: str) -> str:
        """A title not yet used by this composer: a variant suffix when the templates run out."""
        for attempt in range(8):
            title = self.fill(self.rng.choice(self.texts.TITLES[topic]))
            if attempt >= 3:
                title += self.fill(self.rng.choice(_TITLE_VARIANTS[self.language]))
            if title not in self._used:
                break
        self._used.add(title)
        return title

    def sentences(self, topic: str, count: int) -> list[str]:
        pool = list(self.texts.SENTENCES[topic])
        self.rng.shuffle(pool)
        while len(pool) < count:
            extra = list(self.texts.SENTENCES[topic])
            self.rng.shuffle(extra)
            pool += extra
        return [self.fill(s) for s in pool[:count]]

    def paragraphs(self, topic: str, count: int) -> list[str]:
        sentences = self.sentences(topic, count * 3 + self.rng.randint(0, count))
        size = max(1, len(sentences) // count)
        return [" ".join(sentences[i : i + size]) for i in range(0, len(sentences), size)]

    def body(self, topic: str, *, long: bool = False) -> str:
        """An HTML body, as AWCMS's rich-text editor stores it; ``long`` gives > 8 kB."""
        parts: list[str] = []
        if not long:
            for para in self.paragraphs(topic, self.rng.randint(2, 5)):
                parts.append(f"<p>{html.escape(para, quote=False)}</p>")
            if self.rng.random() < 0.3:
                items = self.sentences(topic, 3)
                parts.append(
                    "<ul>"
                    + "".join(f"<li>{html.escape(i, quote=False)}</li>" for i in items)
                    + "</ul>"
                )
            return "\n".join(parts)
        others = [t for t in self.topics if t != topic]
        self.rng.shuffle(others)
        headings = list(self.texts.HEADINGS)
        self.rng.shuffle(headings)
        for index, section in enumerate([topic, topic, *others[:6]]):
            parts.append(f"<h2>{html.escape(headings[index % len(headings)])}</h2>")
            for para in self.paragraphs(section, 5):
                parts.append(f"<p>{html.escape(para, quote=False)}</p>")
        return "\n".join(parts)

    def tags(self, topic: str) -> tuple[str, ...]:
        pool = self.texts.TAGS[topic]
        return tuple(self.rng.sample(pool, k=min(len(pool), self.rng.randint(2, 4))))

    def article(self, topic: str, *, long: bool = False, title: str | None = None) -> Article:
        if title is None:
            title = self.title(topic)
            if long:
                title = self.rng.choice(self.texts.INTROS) + title
        markup = self.body(topic, long=long)
        return Article(
            title=title,
            html=markup,
            excerpt=excerpt_of(markup),
            tags=self.tags(topic),
            topic=topic,
            language=self.language,
        )


def excerpt_of(markup: str, limit: int = 200) -> str:
    text = text_of_html(markup)
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit].rstrip(",.;:") + "…"
