"""Language tags (BCP 47): the one form in which awsm stores, filters and shows a locale.

Tags are case-insensitive and AWCMS data writes them several ways (``en-US``, ``en_us``,
``EN``), while the engines compare filter values exactly; so a row's locale and a
visitor's ``locale`` filter both pass through ``canonical_locale`` first. Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = ["LOCALE_TAG", "canonical_locale"]

# the shape of a language tag: a language, then up to 7 subtags
LOCALE_TAG = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,7}")


def canonical_locale(value: str) -> str:
    """``value`` with ``-`` between subtags and BCP 47's case conventions: the language
    lowercase, a script titlecase, a region uppercase, everything from an extension or
    private-use singleton on lowercase (``EN_us`` → ``en-US``, ``zh-hant-tw`` →
    ``zh-Hant-TW``). Tags that differ only in case or separator get one form; text that
    is no tag is stripped and lowercased."""
    first, *rest = value.strip().replace("_", "-").split("-")
    out = [first.lower()]
    singleton = False
    for sub in rest:
        singleton = singleton or len(sub) == 1
        letters = sub.isascii() and sub.isalpha()
        if not singleton and letters and len(sub) == 2:
            out.append(sub.upper())
        elif not singleton and letters and len(sub) == 4:
            out.append(sub.title())
        else:
            out.append(sub.lower())
    return "-".join(out)
