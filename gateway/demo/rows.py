"""Builds the demo's table rows (plain dicts keyed by column) from the catalog and the prose.

Pure: a seed, a clock reading and the list of image paths in, rows out; the same
inputs always give the same rows (ids included). It never touches the database.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.demo import catalog
from gateway.demo.product_lines import PRODUCT_LINES
from gateway.demo.prose import Article, Composer, excerpt_of, slugify

__all__ = ["DemoRows", "build_rows", "HOSTILE_KINDS"]

Row = dict[str, Any]
_Categories = dict[tuple[str, str], uuid.UUID]  # (category type, topic) -> id; topic "" = default

# Every kind but "published" must stay out of public search (see DESIGN.md, "visible").
HOSTILE_KINDS = ("draft", "deleted", "private", "inactive", "scheduled", "archived")
_SCHEDULE_OFFSETS = (
    timedelta(minutes=10),
    timedelta(minutes=45),
    timedelta(hours=3),
    timedelta(days=1),
    timedelta(days=3),
    timedelta(days=10),
)


@dataclass
class DemoRows:
    tenants: list[Row] = field(default_factory=list)
    categories: list[Row] = field(default_factory=list)
    blogs: list[Row] = field(default_factory=list)
    pages: list[Row] = field(default_factory=list)
    products: list[Row] = field(default_factory=list)
    files: list[Row] = field(default_factory=list)
    scheduled_soon: tuple[str, str, datetime] | None = None


class _Builder:
    def __init__(
        self, seed: int, now: datetime, images: dict[str, list[tuple[str, str, int]]]
    ) -> None:
        self.rng = random.Random(f"awsm-demo:{seed}")
        self.now = now
        self.images = images  # slug -> [(path, mime, size)]
        self.out = DemoRows()

    def new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    # -- visibility --------------------------------------------------------------

    def kinds(self, n: int, hostile: tuple[str, ...], offset: int, suspended: bool) -> list[str]:
        """One visibility kind per row: each hostile kind at least once where there is room."""
        if suspended:
            return ["published"] * n  # published content that must still never be searchable
        if n >= 12:
            forced = list(hostile)
        else:
            count = min(n, max(2, n // 3))
            forced = [hostile[(offset + i) % len(hostile)] for i in range(count)]
        rest = [
            "published" if self.rng.random() < 0.85 else self.rng.choice(hostile)
            for _ in range(n - len(forced))
        ]
        kinds = forced + rest
        self.rng.shuffle(kinds)
        return kinds

    def visibility(self, kind: str, has_public: bool = True) -> Row:
        past = self.now - timedelta(
            hours=self.rng.randint(1, 24 * 400), minutes=self.rng.randint(0, 59)
        )
        row: Row = {
            "status": "published",
            "published_at": past,
            "deleted_at": None,
            "is_active": True,
            "workflow_state": "published",
        }
        if has_public:
            row["is_public"] = True
        if kind == "draft":
            row.update(
                status="draft",
                workflow_state=self.rng.choice(("draft", "reviewed")),
                published_at=None if self.rng.random() < 0.5 else past,
            )
        elif kind == "archived":
            row.update(status="archived", workflow_state="archived")
        elif kind == "deleted":
            row["deleted_at"] = self.now - timedelta(hours=self.rng.randint(1, 240))
        elif kind == "private":
            row["is_public"] = False
        elif kind == "inactive":
            row["is_active"] = False
        elif kind == "scheduled":
            row["published_at"] = self.now + self.rng.choice(_SCHEDULE_OFFSETS)
        created = min(row["published_at"] or self.now, self.now) - timedelta(
            days=self.rng.randint(0, 5)
        )
        row["created_at"] = created
        row["updated_at"] = min(self.now, created + timedelta(hours=self.rng.randint(0, 72)))
        if not has_public:
            row.pop("workflow_state")
        return row

    # -- tables ------------------------------------------------------------------

    def build(self) -> DemoRows:
        for index, spec in enumerate(catalog.TENANTS):
            tenant_id = self.new_id()
            self.out.tenants.append(
                {
                    "id": tenant_id,
                    "name": spec.name,
                    "slug": spec.slug,
                    "domain": f"{spec.slug}.localhost",
                    "host": f"{spec.slug}.localhost",
                    "status": spec.status,
                    "locale": spec.locale,
                    "created_at": self.now - timedelta(days=500 - index),
                    "updated_at": self.now,
                }
            )
            cats = self.categories(spec, tenant_id)
            authors = [self.new_id() for _ in range(3)]
            heroes = [p for p, _, _ in self.images.get(spec.slug, []) if "/hero-" in p]
            product_imgs = [p for p, _, _ in self.images.get(spec.slug, []) if "/products/" in p]
            self.blogs(spec, index, tenant_id, cats, authors, heroes)
            self.pages(spec, index, tenant_id, cats, heroes)
            self.products(spec, index, tenant_id, cats, product_imgs or heroes)
            for path, mime, size in self.images.get(spec.slug, []):
                self.out.files.append(
                    {
                        "id": self.new_id(),
                        "tenant_id": tenant_id,
                        "name": path.rsplit("/", 1)[-1],
                        "file_path": path,
                        "file_type": mime,
                        "file_size": size,
                        "bucket_name": "public",
                        "created_at": self.now - timedelta(days=30),
                    }
                )
        return self.out

    def categories(self, spec: catalog.TenantSpec, tenant_id: uuid.UUID) -> _Categories:
        """(type, topic) -> category id; a soft-deleted category per news tenant."""
        by_topic: _Categories = {}
        entries = list(spec.categories)
        if spec.slug == "kabar-jakarta":
            entries.append(("Arsip Lama", "blog", ("arsip",)))
        for name, kind, topics in entries:
            cid = self.new_id()
            self.out.categories.append(
                {
                    "id": cid,
                    "tenant_id": tenant_id,
                    "name": name,
                    "slug": slugify(name),
                    "type": kind,
                    "created_at": self.now - timedelta(days=400),
                    "deleted_at": self.now - timedelta(days=20) if name == "Arsip Lama" else None,
                }
            )
            for topic in topics:
                by_topic.setdefault((kind, topic), cid)
            by_topic.setdefault((kind, ""), cid)
        return by_topic

    def blogs(
        self,
        spec: catalog.TenantSpec,
        index: int,
        tenant_id: uuid.UUID,
        cats: _Categories,
        authors: list[uuid.UUID],
        heroes: list[str],
    ) -> None:
        articles: list[Article] = []
        composers = {lang: Composer(self.rng, lang) for lang in ("id", "en")}
        for language, topic, count in spec.blog_plan:
            composer = composers[language]
            for _ in range(count):
                articles.append(composer.article(topic, long=len(articles) % 14 == 0))
        special = _SPECIAL_TITLES.get(spec.slug)
        if special:
            language, topic, title = special
            articles.insert(3, Composer(self.rng, language).article(topic, title=title))
        kinds = self.kinds(len(articles), HOSTILE_KINDS, index * 2, spec.status != "active")
        slugs: set[str] = set()
        for position, (article, kind) in enumerate(zip(articles, kinds, strict=True)):
            row = self.article_row(article, tenant_id, heroes, slugs, kind, has_public=True)
            row.update(
                category_id=cats.get(("blog", article.topic), cats.get(("blog", ""))),
                author_id=self.rng.choice(authors),
                views=self.rng.randint(0, 25_000),
                meta_title=article.title[:60],
                meta_description=article.excerpt[:155],
                meta_keywords=", ".join(article.tags),
                puck_layout_jsonb=_puck(article.title, article.html, row["featured_image"])
                if position % 4 == 1
                else None,
            )
            self.out.blogs.append(row)
        if spec.slug == "kabar-jakarta":
            self.kabar_extras(tenant_id, cats, authors, heroes, slugs)

    def kabar_extras(
        self,
        tenant_id: uuid.UUID,
        cats: _Categories,
        authors: list[uuid.UUID],
        heroes: list[str],
        slugs: set[str],
    ) -> None:
        """A post scheduled 2 minutes after load, and published posts in a soft-deleted category."""
        article = Composer(self.rng, "id").article(
            "kuliner", title="Festival Kopi dan Kuliner Jakarta Resmi Dibuka Akhir Pekan Ini"
        )
        row = self.article_row(article, tenant_id, heroes, slugs, "published", has_public=True)
        row.update(
            published_at=self.now + timedelta(minutes=2),
            category_id=cats[("blog", "kuliner")],
            author_id=authors[0],
            views=0,
            meta_title=article.title[:60],
            meta_description=article.excerpt[:155],
            meta_keywords="festival, kopi, kuliner",
            puck_layout_jsonb=None,
            created_at=self.now - timedelta(hours=2),
            updated_at=self.now - timedelta(hours=1),
        )
        self.out.blogs.append(row)
        self.out.scheduled_soon = ("blogs", article.title, row["published_at"])
        archive = cats[("blog", "arsip")]
        moved = [
            b
            for b in self.out.blogs
            if b["tenant_id"] == tenant_id
            and b["status"] == "published"
            and b["deleted_at"] is None
            and b["published_at"] < self.now - timedelta(days=30)
        ][:2]
        for blog in moved:
            blog["category_id"] = archive

    def article_row(
        self,
        article: Article,
        tenant_id: uuid.UUID,
        heroes: list[str],
        slugs: set[str],
        kind: str,
        *,
        has_public: bool,
    ) -> Row:
        slug = base = slugify(article.title)
        n = 2
        while slug in slugs:
            slug, n = f"{base}-{n}", n + 1
        slugs.add(slug)
        row: Row = {
            "id": self.new_id(),
            "tenant_id": tenant_id,
            "title": article.title,
            "slug": slug,
            "content": article.html,
            "excerpt": article.excerpt,
            "tags": list(article.tags),
            "language": article.language,
            "featured_image": self.rng.choice(heroes)
            if heroes and self.rng.random() < 0.9
            else None,
        }
        row.update(self.visibility(kind, has_public))
        return row

    def pages(
        self,
        spec: catalog.TenantSpec,
        index: int,
        tenant_id: uuid.UUID,
        cats: _Categories,
        heroes: list[str],
    ) -> None:
        ids = {title: self.new_id() for title, *_ in spec.pages}
        kinds = self.kinds(len(spec.pages), HOSTILE_KINDS, index * 2, spec.status != "active")
        rows = []
        slugs: set[str] = set()
        for (title, language, page_type, parent, topic), kind in zip(
            spec.pages, kinds, strict=True
        ):
            composer = Composer(self.rng, language)
            article = composer.article(topic, title=title)
            row = self.article_row(article, tenant_id, heroes, slugs, kind, has_public=True)
            puck = _puck(title, article.html, row["featured_image"])
            row.update(
                id=ids[title],
                page_type=page_type,
                parent_id=ids.get(parent) if parent else None,
                category_id=cats.get(("page", "")),
                views=self.rng.randint(0, 5_000),
                meta_title=title,
                meta_description=article.excerpt[:155],
                content_published=puck
                if page_type == "landing" or self.rng.random() < 0.5
                else None,
                puck_layout_jsonb=puck if page_type == "landing" else None,
            )
            if page_type == "landing":
                row["content"] = None  # visual-builder pages keep their text only in the jsonb
            rows.append(row)
        rows.sort(key=lambda r: r["parent_id"] is not None)
        self.out.pages.extend(rows)

    def products(
        self,
        spec: catalog.TenantSpec,
        index: int,
        tenant_id: uuid.UUID,
        cats: _Categories,
        images: list[str],
    ) -> None:
        items = [item for line in spec.product_lines for item in PRODUCT_LINES[line](self.rng)]
        if spec.status != "active":
            items = items[:8]
        hostile = tuple(k for k in HOSTILE_KINDS if k != "private")
        kinds = self.kinds(len(items), hostile, index, spec.status != "active")
        composer = Composer(self.rng, "id")
        for (line, name, sku, price, intro, tags), kind in zip(items, kinds, strict=True):
            topic = {"alat": "kopi"}.get(line, line)
            body = f"<p>{intro}</p>\n" + "\n".join(
                f"<p>{s}</p>" for s in composer.sentences(topic, self.rng.randint(2, 4))
            )
            pics = (
                self.rng.sample(images, k=min(len(images), self.rng.randint(1, 3)))
                if images
                else []
            )
            row: Row = {
                "id": self.new_id(),
                "tenant_id": tenant_id,
                "name": name,
                "slug": slugify(name),
                "description": body,
                "price": Decimal(price),
                "images": pics,
                "featured_image": pics[0] if pics else None,
                "sku": sku,
                "stock": 0 if self.rng.random() < 0.1 else self.rng.randint(1, 150),
                "tags": list(tags),
                "category_id": cats.get(("product", line)),
                "language": "id",
            }
            row.update(_as_product(self.visibility(kind, has_public=False), kind))
            self.out.products.append(row)


def _as_product(state: Row, kind: str) -> Row:
    """AWCMS products have no is_active flag and are on sale while their status is "active"."""
    state.pop("is_active")
    if state["status"] == "published":
        state["status"] = "out_of_stock" if kind == "inactive" else "active"
    return state


def _puck(title: str, markup: str | None, image: str | None) -> dict[str, Any]:
    """A Puck editor document as AWCMS's visual builder saves it."""
    content: list[dict[str, Any]] = [
        {"type": "Hero", "props": {"id": "Hero-1", "title": title, "image": image or ""}},
    ]
    if markup:
        content.append({"type": "RichText", "props": {"id": "RichText-1", "content": markup}})
        content.append({"type": "Text", "props": {"id": "Text-1", "text": excerpt_of(markup, 300)}})
    return {"root": {"props": {"title": title}}, "content": content, "zones": {}}


_SPECIAL_TITLES = {
    # Titles with markup characters: snippets and titles must come out escaped.
    "kopi-nusantara": (
        "id",
        "kopi",
        'Kopi & Kesehatan: Mitos dan Fakta tentang "Decaf" <Tanpa Kafein>',
    ),
    "devnotes": ("en", "search", "Why <script> in a Title Must Never Reach Your Search Page"),
}


def build_rows(seed: int, now: datetime, images: dict[str, list[tuple[str, str, int]]]) -> DemoRows:
    return _Builder(seed, now, images).build()
