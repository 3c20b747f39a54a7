"""Tables and the docs section shared by ``bench/embed.py`` and ``bench/search_hybrid.py``.

Rows as aligned text for the terminal or markdown for ``docs/benchmarks.md``;
``replace_subsection``, which rewrites one ``### `` subsection inside the
``<!-- semantic:start -->`` … ``<!-- semantic:end -->`` block and leaves every other
subsection there (the relevance tables) untouched; and ``save``, which writes a run's JSON
and, when asked, its subsection.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.keyword_report import cpu_model

__all__ = ["finite", "machine", "markdown", "replace_subsection", "save", "text_table"]

START, END = "<!-- semantic:start -->", "<!-- semantic:end -->"


def text_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: Sequence[Sequence[str]]) -> str:
    head, *body = rows
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["--:"] * (len(head) - 1)) + "|"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in body])


def replace_subsection(text: str, heading: str, body: str) -> str:
    """``text`` with the subsection titled ``heading`` (a ``### `` line) set to ``body``
    inside the semantic block; appended at the block's end when it is not there yet."""
    if START not in text or END not in text:
        raise ValueError(f"markers {START} / {END} not found")
    head, rest = text.split(START, 1)
    block, tail = rest.split(END, 1)
    section = f"{heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^#{{2,3}} |^<!-- |\Z)", re.M | re.S)
    if pattern.search(block):
        block = pattern.sub(lambda _m: section + "\n", block, count=1)
        block = block.rstrip("\n") + "\n"
    else:
        block = (block.rstrip("\n") + "\n\n" if block.strip() else "\n") + section
    return head + START + block + END + tail


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = math.nan
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "load_1min_at_start": round(load, 2)}


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity: written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def save(result: dict[str, Any], json_path: Path, *, script: str,
         argv: Sequence[str] | None, docs: tuple[Path, str, Callable[[str], str]] | None) -> None:
    """Write ``result`` to ``json_path``; with ``docs`` = (file, heading, section builder),
    also rewrite that subsection, its command line being ``script`` with ``argv``."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(finite(result), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {json_path}")
    if docs is not None:
        path, heading, section = docs
        shown = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write-docs"]
        command = shlex.join([".venv/bin/python", script, *shown])
        path.write_text(replace_subsection(path.read_text(), heading, section(command)))
        print(f"updated {path}")
