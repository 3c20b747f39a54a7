"""The demo shop's product lines (coffee, batik, brewing tools) expanded into sellable items.

Pure: catalog data and a ``random.Random`` in, item tuples out; no I/O.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from gateway.demo import catalog
from gateway.demo.prose import slugify

__all__ = ["Item", "PRODUCT_LINES"]

Item = tuple[str, str, str, str, str, tuple[str, ...]]  # line, name, sku, price, intro, tags


def _coffee_items(rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for name, region, notes, base in catalog.COFFEES:
        process = rng.choice(catalog.PROCESSES)
        species = "robusta" if "Robusta" in name else "arabika"
        for weight, factor in rng.sample(catalog.WEIGHTS, k=2):
            code = slugify(name).split("-")[-1][:5].upper()
            sku = f"KN-{code}-{process[:3].upper()}-{weight.replace(' ', '').upper()}"
            price = f"{round(base * factor, -3):.2f}"
            intro = (
                f"Kopi {name} dari {region}, proses {process.lower()}, kemasan {weight}. "
                f"Catatan rasa: {notes}."
            )
            items.append(
                (
                    "kopi",
                    f"Kopi {name} {process} {weight}",
                    sku,
                    price,
                    intro,
                    ("kopi", species, process.lower(), slugify(region)),
                )
            )
    return items


def _batik_items(rng: random.Random) -> list[Item]:
    items: list[Item] = []
    for motif, origin, meaning in catalog.MOTIFS:
        for item, technique, price in rng.sample(catalog.BATIK_ITEMS, k=3):
            name = f"{item} Motif {motif}"
            sku = f"BT-{slugify(motif)[:6].upper()}-{slugify(item)[:8].upper()}"
            intro = (
                f"{item} motif {motif} khas {origin}, dibuat dengan teknik {technique}. "
                f"Motif ini melambangkan {meaning}."
            )
            items.append(
                (
                    "batik",
                    name,
                    sku,
                    f"{price:.2f}",
                    intro,
                    ("batik", f"batik-{technique}", slugify(motif), slugify(origin)),
                )
            )
    return items


def _tool_items(rng: random.Random) -> list[Item]:
    return [
        ("alat", name, f"AL-{i:03d}", f"{price:.2f}", desc, ("alat-seduh", "kopi"))
        for i, (name, desc, price) in enumerate(catalog.BREW_TOOLS, 1)
    ]


PRODUCT_LINES: dict[str, Callable[[random.Random], list[Item]]] = {
    "kopi": _coffee_items,
    "batik": _batik_items,
    "alat": _tool_items,
}
