"""Pure: what counts as a control character in anything a client or an operator sends,
one set for every service (C0, DEL and C1: U+0085 breaks lines for some parsers).
Never anything else: what to do about one is each caller's rule."""

from __future__ import annotations

import re

__all__ = ["CONTROL_CHARS"]

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
