"""canonical_locale: one form per BCP 47 tag, whatever case or separator a row or a
visitor writes it with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_svc.locales import LOCALE_TAG, canonical_locale
from search_svc.params import parse_search_params
from search_svc.stemming import language_for


@pytest.mark.parametrize("value, canonical", [
    ("id", "id"), ("ID", "id"), (" en ", "en"), ("en-us", "en-US"), ("EN_us", "en-US"),
    ("zh-hant-tw", "zh-Hant-TW"), ("ZH_HANT", "zh-Hant"), ("es-419", "es-419"),
    ("sl-rozaj-biske", "sl-rozaj-biske"), ("de-CH-1996", "de-CH-1996"),
    # from a singleton on (extensions, private use) everything is lowercase
    ("en-US-x-TW", "en-US-x-tw"), ("en-u-CA-Buddhist", "en-u-ca-buddhist"),
    ("", ""), ("Bahasa Indonesia", "bahasa indonesia"),
])
def test_canonical_form(value: str, canonical: str) -> None:
    assert canonical_locale(value) == canonical


_TAG = st.from_regex(LOCALE_TAG, fullmatch=True)


@given(_TAG)
def test_tags_that_differ_in_case_or_separator_share_one_form(tag: str) -> None:
    form = canonical_locale(tag)
    for variant in (tag.upper(), tag.lower(), tag.swapcase(), tag.replace("-", "_"),
                    tag.replace("_", "-")):
        assert canonical_locale(variant) == form
    assert canonical_locale(form) == form
    assert LOCALE_TAG.fullmatch(form)


@given(st.text(max_size=40))
def test_any_text_has_a_stable_form(value: str) -> None:
    form = canonical_locale(value)
    assert canonical_locale(form) == form


def test_the_search_filter_is_canonical() -> None:
    assert parse_search_params({"tenant": ["t"], "locale": ["EN_us"]}).locale == "en-US"
    assert parse_search_params({"tenant": ["t"], "locale": [" "]}).locale is None


def test_the_stemmer_choice_reads_any_form() -> None:
    assert language_for("EN_GB") == language_for("en-gb") == "english"
    assert language_for("ID") == language_for("in") == "indonesian"
