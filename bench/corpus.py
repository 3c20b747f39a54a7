"""The keyword benchmark's corpus: blog-shaped rows in Indonesian and English, and its query set.

Words follow a Zipf law over a vocabulary of tens of thousands of forms (hand-written
roots, Indonesian and English morphology, generated proper nouns, product codes and
numbers); a share of sentences is natural prose from the demo material. Rare query
words are planted in a known handful of documents, so every query kind has true
matches. Deterministic for a seed. ``load_rows`` is the only function that does I/O.
"""

from __future__ import annotations

import functools
import random
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from gateway.demo import texts_en, texts_id

__all__ = [
    "KINDS",
    "Vocabulary",
    "vocabulary",
    "generate_rows",
    "load_rows",
    "ensure_tenants",
    "query_set",
]

KINDS = ("single", "two_words", "phrase", "rare", "typo1", "typo2", "prefix")
COLUMNS = (
    "id", "tenant_id", "title", "slug", "content", "excerpt", "tags", "language", "status",
    "published_at", "is_active", "is_public", "workflow_state", "created_at", "updated_at",
)  # fmt: skip

_DATA = Path(__file__).parent / "data"
_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_WORD = re.compile(r"[^\W_]+")
_SLOT = re.compile(r"\{\w+\}")
_ZIPF_S = 1.07
_NATURAL_SHARE = 0.3
_RARE_WORDS = 40

FUNCTION_ID = (
    "yang dan di ke dari untuk dengan ini itu dalam tidak akan pada juga ada bisa sudah oleh "
    "lebih karena atau saat para sebagai kami kita mereka adalah telah masih hanya agar jika "
    "namun setelah bagi hingga antara tersebut lain sangat banyak dua baru secara harus "
    "menjadi kini tahun setiap semua orang bahwa masyarakat warga hari"
).split()
FUNCTION_EN = (
    "the of and to a in is for that on it with as are be this by from at or an was have "
    "not you we can they more their which will our has all but when so if into than also "
    "about most your new one after how these people time just many"
).split()
_SYLLABLE_ONSETS = ("b c d g h j k l m n p r s t w y ng ny s t k").split()
_SYLLABLE_CODAS = ("", "", "", "n", "ng", "r", "s", "t", "h", "k", "l")
_VOWELS = "aiueo"
_TYPO_ALPHABET = "aeioubdgklmnprstu"


@dataclass(frozen=True)
class Vocabulary:
    ranked: dict[str, tuple[str, ...]]  # language -> Zipf-ranked display forms
    cum_weights: dict[str, tuple[float, ...]]
    content: dict[str, tuple[str, ...]]  # language -> ranked content words (no stop words)
    content_cum: dict[str, tuple[float, ...]]
    prose: dict[str, tuple[str, ...]]  # ranked content words that occur in hand-written prose
    natural: dict[str, tuple[str, ...]]  # language -> hand-written sentence templates
    titles: dict[str, tuple[str, ...]]
    rare: tuple[str, ...]  # planted words, never sampled
    tags: tuple[str, ...]
    words: frozenset[str]  # every lower-cased token the corpus can contain

    def __len__(self) -> int:
        return len(self.words)


def _roots(name: str) -> list[str]:
    text = (_DATA / name).read_text(encoding="utf-8")
    return [w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#")]


def _men(root: str, nasal_only: bool = False) -> str:
    """Indonesian meN-/peN- assimilation: 'me' + root, e.g. kirim -> mengirim, tulis -> menulis."""
    first, cluster = root[0], len(root) > 1 and root[1] not in _VOWELS
    if first in _VOWELS:
        return "meng" + root
    if first in "bfv":
        return "mem" + root
    if first == "p":
        return "mem" + (root if cluster else root[1:])
    if first == "t":
        return "men" + (root if cluster else root[1:])
    if first in "dcjz":
        return "men" + root
    if first == "s":
        return "meny" + (root if cluster else root[1:])
    if first == "k":
        return "meng" + (root if cluster else root[1:])
    if first in "gh":
        return "meng" + root
    return "me" + root


def indonesian_forms(root: str) -> list[str]:
    men = _men(root)
    pen = "pe" + men[2:]
    ber = ("be" if root[0] == "r" or root.startswith("ker") else "ber") + root
    return [
        root, men, men + "kan", men + "i", "di" + root, "di" + root + "kan", "di" + root + "i",
        ber, "ter" + root, pen, pen + "an", root + "an", "ke" + root + "an", root + "nya",
        "per" + root + "an", men + "nya",
    ]  # fmt: skip


def english_forms(root: str) -> list[str]:
    stem = root[:-1] if root.endswith("e") else root
    plural = root[:-1] + "ies" if root.endswith("y") and root[-2] not in _VOWELS else root + "s"
    past = root + "d" if root.endswith("e") else stem + "ed"
    return [root, plural, past, stem + "ing", stem + "er", stem + "ers", "re" + root, "un" + past]


def _proper_nouns(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        syllables = rng.choice((2, 2, 3, 3, 4))
        word = "".join(
            rng.choice(_SYLLABLE_ONSETS) + rng.choice(_VOWELS) + rng.choice(_SYLLABLE_CODAS)
            for _ in range(syllables)
        )
        names.add(word.capitalize())
    return sorted(names)


def _codes(rng: random.Random, count: int) -> list[str]:
    prefixes = ("KN", "BT", "SKU", "AL", "INV", "PO", "X", "RT", "PX", "ID", "JK", "MDL")
    codes = {f"{rng.choice(prefixes)}{rng.randint(10, 99999)}" for _ in range(count * 2)}
    return sorted(codes)[:count]


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@functools.lru_cache(maxsize=4)
def vocabulary(seed: int) -> Vocabulary:
    rng = random.Random(f"bench-vocab:{seed}")
    natural = {"id": _templates(texts_id.SENTENCES), "en": _templates(texts_en.SENTENCES)}
    titles = {"id": _templates(texts_id.TITLES), "en": _templates(texts_en.TITLES)}
    derived = {
        "id": [f for r in _roots("vocab_id_roots.txt") for f in indonesian_forms(r)],
        "en": [f for r in _roots("vocab_en_roots.txt") for f in english_forms(r)],
    }
    names = _proper_nouns(rng, 16_000)
    rng.shuffle(names)
    rare = tuple(names[:_RARE_WORDS])
    tail = (
        names[_RARE_WORDS:]
        + _codes(rng, 8_000)
        + [str(n) for n in rng.sample(range(100, 99_999), 4_000)]
    )
    rng.shuffle(tail)
    ranked, cum, content, content_cum, prose = {}, {}, {}, {}, {}
    for lang, stop in (("id", FUNCTION_ID), ("en", FUNCTION_EN)):
        natural_words = {
            w for s in natural[lang] + titles[lang] for w in _tokens(_SLOT.sub(" ", s))
        }
        words = sorted((natural_words | set(derived[lang])) - set(stop) - {w.lower() for w in rare})
        rng.shuffle(words)
        # Words of hand-written prose rank above generated forms, as real text would.
        words.sort(key=lambda w: w not in natural_words)
        content[lang] = tuple(w for w in words if not w.isdigit())
        prose[lang] = tuple(w for w in content[lang] if w in natural_words)
        ranked[lang] = tuple(stop) + content[lang] + tuple(tail)
        cum[lang] = _zipf(len(ranked[lang]))
        content_cum[lang] = _zipf(len(content[lang]))
    tags = tuple(
        sorted({t for m in (texts_id.TAGS, texts_en.TAGS) for ts in m.values() for t in ts})
    )
    every = {w.lower() for lang in ranked for w in ranked[lang]} | {w.lower() for w in rare}
    for lang in natural:
        every |= {w for s in natural[lang] + titles[lang] for w in _tokens(s)}
    every |= {
        w for name in texts_id.CITIES + texts_id.NAMES + texts_en.NAMES for w in _tokens(name)
    }
    every |= {w for m in texts_id.MONTHS + texts_en.MONTHS for w in _tokens(m)}
    return Vocabulary(
        ranked, cum, content, content_cum, prose, natural, titles, rare, tags, frozenset(every)
    )


def _zipf(size: int) -> tuple[float, ...]:
    total, acc = 0.0, []
    for rank in range(size):
        total += 1.0 / (rank + 2) ** _ZIPF_S
        acc.append(total)
    return tuple(acc)


def _templates(material: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(s for group in material.values() for s in group)


def _fill(rng: random.Random, template: str, lang: str) -> str:
    texts = texts_id if lang == "id" else texts_en
    values = {
        "{kota}": lambda: rng.choice(texts_id.CITIES),
        "{nama}": lambda: rng.choice(texts.NAMES),
        "{angka}": lambda: str(rng.randint(2, 60)),
        "{tahun}": lambda: str(rng.randint(2019, 2026)),
        "{bulan}": lambda: rng.choice(texts.MONTHS),
    }
    return _SLOT.sub(lambda m: values[m.group(0)](), template)


def _plants(seed: int, n: int, vocab: Vocabulary) -> dict[int, list[str]]:
    """Rare word j goes into 1 + j % 5 documents, chosen from the seed and n."""
    rng = random.Random(f"bench-plants:{seed}:{n}")
    plants: dict[int, list[str]] = {}
    for j, word in enumerate(vocab.rare):
        for doc in rng.sample(range(n), k=min(n, 1 + j % 5)):
            plants.setdefault(doc, []).append(word)
    return plants


def _sentence(rng: random.Random, vocab: Vocabulary, lang: str) -> str:
    if rng.random() < _NATURAL_SHARE:
        return _fill(rng, rng.choice(vocab.natural[lang]), lang)
    words = rng.choices(
        vocab.ranked[lang], cum_weights=vocab.cum_weights[lang], k=rng.randint(6, 16)
    )
    return words[0][:1].upper() + words[0][1:] + " " + " ".join(words[1:]) + "."


def _title(rng: random.Random, vocab: Vocabulary, lang: str) -> str:
    if rng.random() < 0.4:
        return _fill(rng, rng.choice(vocab.titles[lang]), lang)
    words = rng.choices(
        vocab.content[lang], cum_weights=vocab.content_cum[lang], k=rng.randint(3, 7)
    )
    return " ".join(w[:1].upper() + w[1:] for w in dict.fromkeys(words))


def generate_rows(n: int, *, seed: int, tenants: list[str]) -> Iterator[dict[str, Any]]:
    """``n`` blog rows for ``tenants`` (tenant ids as in ``tenants.id``), ~70 % Indonesian.

    About 3 % are drafts and 2 % private, so visibility filters have something to do.
    """
    vocab = vocabulary(seed)
    plants = _plants(seed, n, vocab)
    rng = random.Random(f"bench-rows:{seed}")
    for index in range(n):
        lang = "id" if rng.random() < 0.7 else "en"
        paragraphs = [
            [_sentence(rng, vocab, lang) for _ in range(rng.randint(2, 5))]
            for _ in range(rng.randint(2, 5))
        ]
        for word in plants.get(index, ()):
            # Its own generator: planting never shifts the text of the other documents.
            prng = random.Random(f"bench-plant:{seed}:{index}:{word}")
            para = prng.choice(paragraphs)
            para.insert(prng.randrange(len(para) + 1), _planted_sentence(prng, vocab, lang, word))
        title = _title(rng, vocab, lang)
        text = " ".join(s for p in paragraphs for s in p)
        published = _EPOCH + timedelta(seconds=rng.randint(0, 300 * 86_400))
        roll = rng.random()
        yield {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "tenant_id": tenants[index % len(tenants)],
            "title": title,
            "slug": f"{_slug(title)}-{index}",
            "content": "\n".join("<p>" + " ".join(p) + "</p>" for p in paragraphs),
            "excerpt": text[:180].rsplit(" ", 1)[0] + "…",
            "tags": rng.sample(vocab.tags, k=rng.randint(1, 4)),
            "language": lang,
            "status": "draft" if roll < 0.03 else "published",
            "published_at": published,
            "is_active": True,
            "is_public": not 0.03 <= roll < 0.05,
            "workflow_state": "draft" if roll < 0.03 else "published",
            "created_at": published - timedelta(hours=rng.randint(1, 72)),
            "updated_at": published,
        }


def _planted_sentence(rng: random.Random, vocab: Vocabulary, lang: str, word: str) -> str:
    words = rng.choices(
        vocab.ranked[lang], cum_weights=vocab.cum_weights[lang], k=rng.randint(5, 10)
    )
    words.insert(rng.randrange(1, len(words)), word)
    return words[0][:1].upper() + words[0][1:] + " " + " ".join(words[1:]) + "."


def _slug(title: str) -> str:
    return "-".join(_tokens(title))[:80] or "post"


def ensure_tenants(conn: psycopg.Connection, slugs: list[str]) -> list[str]:
    """Active tenants for the benchmark (created when missing); returns their ids as text."""
    ids = []
    with conn.transaction():
        for slug in slugs:
            row = conn.execute(
                "INSERT INTO tenants (name, slug, domain, status, locale) "
                "VALUES (%s, %s, %s, 'active', 'id') "
                "ON CONFLICT (slug) DO UPDATE SET status = 'active' RETURNING id::text",
                (slug.replace("-", " ").title(), slug, f"{slug}.localhost"),
            ).fetchone()
            assert row is not None
            ids.append(row[0])
    return ids


def load_rows(conn: psycopg.Connection, rows: Iterable[dict[str, Any]]) -> int:
    """COPY rows into ``blogs`` in one transaction; returns how many were written."""
    count = 0
    columns = ", ".join(COLUMNS)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        with cur.copy(f"COPY blogs ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
            for row in rows:
                copy.write_row([row[c] for c in COLUMNS])
                count += 1
    return count


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _typo(rng: random.Random, word: str, edits: int, vocab: Vocabulary) -> str | None:
    """``edits`` substitutions/insertions/deletions, never on the first letter (Meilisearch
    counts a first-letter typo double); None when the result is a real word or too short."""
    out = word
    for _ in range(edits):
        pos = rng.randrange(1, len(out))
        op = rng.choice(("sub", "ins", "del"))
        letter = rng.choice(_TYPO_ALPHABET)
        if op == "sub":
            out = out[:pos] + letter + out[pos + 1 :]
        elif op == "ins":
            out = out[:pos] + letter + out[pos:]
        else:
            out = out[:pos] + out[pos + 1 :]
    minimum = 5 if edits == 1 else 9  # Meilisearch: 1 typo from 5 letters, 2 from 9
    if len(out) < minimum or out in vocab.words or levenshtein(word, out) != edits:
        return None
    return out


def _segments(template: str) -> list[list[str]]:
    """Token runs of a template between its slots: adjacent only where the text is fixed."""
    return [tokens for part in _SLOT.split(template) if (tokens := _tokens(part))]


def query_set(seed: int, *, per_kind: int = 20) -> list[tuple[str, str]]:
    """(kind, query) for every kind in KINDS; phrases come in double quotes."""
    vocab = vocabulary(seed)
    rng = random.Random(f"bench-queries:{seed}")
    stop = set(FUNCTION_ID) | set(FUNCTION_EN)
    out: list[tuple[str, str]] = []

    def lang() -> str:
        return "id" if rng.random() < 0.7 else "en"

    def common(language: str, min_len: int, top: int = 600) -> str:
        pool = [w for w in vocab.prose[language][:top] if len(w) >= min_len]
        return rng.choice(pool)

    def segment(min_tokens: int) -> list[str]:
        while True:
            runs = [r for r in _segments(rng.choice(vocab.natural[lang()])) if len(r) >= min_tokens]
            if runs:
                return rng.choice(runs)

    def add(kind: str, make: Any) -> None:
        seen: set[str] = set()
        while len(seen) < per_kind:
            query = make()
            if query and query not in seen:
                seen.add(query)
                out.append((kind, query))

    add("single", lambda: common(lang(), 4))

    def two_words() -> str | None:
        run = [w for w in segment(4) if w not in stop and len(w) >= 4]
        if len(run) < 2:
            return None
        first, second = sorted(rng.sample(range(len(run)), 2))
        return f"{run[first]} {run[second]}" if second - first > 0 else None

    add("two_words", two_words)

    def phrase() -> str | None:
        run = segment(3)
        size = rng.choice((2, 3))
        start = rng.randrange(len(run) - size + 1)
        words = run[start : start + size]
        return f'"{" ".join(words)}"' if not set(words) <= stop else None

    add("phrase", phrase)
    add("rare", lambda: rng.choice(vocab.rare).lower())
    add("typo1", lambda: _typo(rng, common(lang(), 6, 1500), 1, vocab))
    add("typo2", lambda: _typo(rng, common(lang(), 10, 3000), 2, vocab))

    def prefix() -> str | None:
        if rng.random() < 0.5:
            word = common(lang(), 7, 1500)
            return word[: rng.randint(3, 5)]
        run = segment(2)
        i = rng.randrange(len(run) - 1)
        first, last = run[i], run[i + 1]
        if len(last) < 6:
            return None
        return f"{first} {last[: rng.randint(3, 5)]}"

    add("prefix", prefix)
    return out
