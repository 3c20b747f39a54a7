"""``TenantDirectory``: which tenant a request's key names (pure)."""

from __future__ import annotations

import pytest

from search_svc.tenants import SearchTypes, TenantDirectory

ROWS = [
    ("id-kopi", "kopi", "kopi.example", True),
    ("id-tech", "tech", "kopi", True),  # its domain is spelled like kopi's slug
    ("id-DUA", "DUA", None, True),
    ("id-dua", "dua", None, True),  # two slugs differing only in case
    ("id-tiga", "tiga", None, False),  # suspended
    ("id-t3", "t3", "tiga", True),  # its domain is the suspended tenant's slug
    ("id-old", "old", "shop.example", False),
    ("id-new", "new", "SHOP.example", True),  # two domains alike: neither
]


@pytest.mark.parametrize(("key", "tenant"), [
    ("kopi", "id-kopi"),  # the slug wins over tech's domain
    (" KOPI ", "id-kopi"),
    ("Kopi.Example", "id-kopi"),
    ("tech", "id-tech"),
    ("dua", None),
    ("tiga", None),  # suspended: no fall-through to t3's domain
    ("t3", "id-t3"),
    ("shop.example", None),
    ("nope", None),
    ("", None),
])
def test_a_key_names_one_active_tenant_or_none(key: str, tenant: str | None) -> None:
    assert TenantDirectory(ROWS).resolve(key) == tenant


def test_an_empty_table_names_nobody() -> None:
    directory = TenantDirectory([])
    assert directory.size == 0 and directory.resolve("kopi") is None


@pytest.mark.parametrize(("stored", "key"), [
    # a Host header, and so a frontend that passes it on, carries the ASCII (punycode)
    # form of an internationalised domain; an admin types, and AWCMS stores, the Unicode
    ("kedai-bükü.id", "xn--kedai-bk-d6ab.id"),
    ("xn--kedai-bk-d6ab.id", "Kedai-Bükü.id"),
    ("kedai-bükü.id", "KEDAI-BÜKÜ.ID"),
    # the fully qualified form, with its final dot, names the same host
    ("kedai.example", "kedai.example."),
    ("kedai.example.", "kedai.example"),
])
def test_a_domain_matches_in_any_of_its_host_forms(stored: str, key: str) -> None:
    directory = TenantDirectory([("id-kedai", "kedai", stored, True)])
    assert directory.resolve(key) == "id-kedai"


def test_two_tenants_with_one_domain_in_two_forms_name_neither() -> None:
    directory = TenantDirectory([("id-a", "a", "kedai-bükü.id", True),
                                 ("id-b", "b", "xn--kedai-bk-d6ab.id", True)])
    assert directory.resolve("kedai-bükü.id") is None
    assert directory.resolve("xn--kedai-bk-d6ab.id") is None


def test_a_host_listed_twice_for_one_tenant_still_names_it() -> None:
    # AWCMS keeps host names in a table of their own (one row each, no slug); a host in
    # both the tenant's column and that table, or in two of its forms, is one tenant
    directory = TenantDirectory([("id-a", "a", "kopi.example", True),
                                 ("id-a", None, "Kopi.Example.", True),
                                 ("id-a", None, "www.kopi.example", True),
                                 ("id-b", "b", None, True),
                                 ("id-b", None, "www.kopi.example", True)])
    assert directory.resolve("kopi.example") == "id-a"
    assert directory.resolve("www.kopi.example") is None  # two tenants claim it
    assert directory.size == 2


def test_the_types_a_tenant_lets_the_public_search() -> None:
    # (id, slug, domain, active, the type names of its search settings)
    rows = [("t-all", "all", None, True, None), ("t-none", "none", None, True, []),
            ("t-blog", "blog", "blog.example", True, ["blog_post", "forum_thread", "blog_post"]),
            ("t-both", "both", None, True, ["blog_page", "blog_post"]),
            ("t-unset", "unset", None, True)]
    names = (("blog_post", "blog"), ("blog_page", "page"))
    directory = TenantDirectory(rows, SearchTypes("settings", names=names))
    assert directory.resolve("blog.example") == "t-blog"
    assert directory.resolve("none") is None  # no type at all: answered as unknown
    assert [directory.scope(t) for t in ("t-all", "t-none", "t-blog", "t-both", "t-unset")] == [
        None, (), ("blog",), ("page", "blog"), None]
    # without a translation the names are the mapping's types; without the mapping, no scope
    assert TenantDirectory(rows, SearchTypes("settings")).scope("t-both") == (
        "blog_page", "blog_post")
    # an array's NULL or empty elements name no type (a filter must never hold them)
    holey = [("t", "t", None, True, [None, "", "blog_post"])]
    assert TenantDirectory(holey, SearchTypes("settings")).scope("t") == ("blog_post",)
    assert TenantDirectory(holey, SearchTypes("settings", names=names)).scope("t") == ("blog",)
    assert TenantDirectory(rows).scope("t-blog") is None
    # a name the translation lacks matches nothing: only unknown names, no type at all
    only_unknown = TenantDirectory([("t", "t", None, True, ["forum_thread"])],
                                   SearchTypes("settings", names=names))
    assert only_unknown.scope("t") == ()
