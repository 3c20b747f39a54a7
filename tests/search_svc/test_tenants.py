"""``TenantDirectory``: which tenant a request's key names (pure)."""

from __future__ import annotations

import pytest

from search_svc.tenants import TenantDirectory

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
