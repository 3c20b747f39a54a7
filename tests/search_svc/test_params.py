"""List parameters (type, category, tags, facets): comma-separated, CSV-style quoting
for values that hold a comma, a quote or surrounding spaces (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from search_svc.errors import InvalidQuery
from search_svc.params import parse_search_params, split_values


def join_values(values: list[str]) -> str:
    """What a client writes: a value is quoted when it has to be."""
    def one(v: str) -> str:
        if "," in v or '"' in v or v != v.strip():
            return '"' + v.replace('"', '""') + '"'
        return v
    return ",".join(one(v) for v in values)


@given(st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
                .filter(str.strip), max_size=6))  # an all-space value is no value
def test_quoted_values_come_back_as_written(values: list[str]) -> None:
    assert split_values(join_values(values)) == values


@pytest.mark.parametrize(("text", "values"), [
    ("blog,page", ["blog", "page"]),
    (" blog , page ,", ["blog", "page"]),
    ('"Kopi, Teh & Susu",kopi', ["Kopi, Teh & Susu", "kopi"]),
    ('" spaced "', [" spaced "]),
    ('"say ""hi"""', ['say "hi"']),
    ("", []),
])
def test_values_split_on_commas_outside_quotes(text: str, values: list[str]) -> None:
    assert split_values(text) == values


@pytest.mark.parametrize("text", ['"open', 'a"b', 'a,"b', '"a"b'])
def test_an_unbalanced_quote_is_a_400(text: str) -> None:
    assert split_values(text) is None
    with pytest.raises(InvalidQuery, match="quote"):
        parse_search_params({"tenant": ["kopi"], "category": [text]})


def test_a_value_ending_in_a_space_other_than_u0020_is_kept_as_facets_show_it() -> None:
    # a tag "kopi\u00a0", as the tags facet returns it, was sent back as "kopi"
    params = parse_search_params({"tenant": ["kopi"], "tags": ["kopi\u00a0, \u2003lead"]})
    assert params.tags == ("kopi\u00a0", "\u2003lead")


def test_a_category_holding_a_comma_can_be_filtered() -> None:
    params = parse_search_params({"tenant": ["kopi"],
                                  "category": ['"Kopi, Teh & Susu"'], "tags": ["a,b"]})
    assert params.categories == ("Kopi, Teh & Susu",) and params.tags == ("a", "b")


@pytest.mark.parametrize("raw", [
    {"type": ["\x7f"]}, {"category": ["a\x85b"]}, {"tags": ["x\x9f"]}, {"tag": ["\x00"]},
    {"tenant": ["kopi\x7f"]}, {"tenant": ["ko pi"]},
    {"tags": [",".join(f"t{i}" for i in range(15))], "tag": [",".join(f"u{i}" for i in range(6))]},
    {"locale": ["en\n"]}, {"locale": [" en"]}, {"locale": ["en "]}, {"locale": ["x" * 513]},
    # controls Python counts as spaces were stripped, not refused ("\x85" alone: no filter)
    {"category": ["a\x1f"]}, {"category": ["\x85"]}, {"category": ["Cerita Kopi\x1c"]},
    {"tags": ["\x1d,kopi"]},
    # a space of any kind in a tenant key was stripped: one more URL for one answer
    {"tenant": ["kopi\u00a0"]}, {"tenant": ["\u3000kopi"]}, {"tenant": ["kopi\u2003"]},
])
def test_control_characters_spaces_and_too_many_values_are_refused(
        raw: dict[str, list[str]]) -> None:
    # each once passed: DEL and C1 controls, 15 "tags" + 6 "tag" (the limit counted per
    # name), a locale stripped before it was checked (a second URL for one answer)
    with pytest.raises(InvalidQuery):
        parse_search_params({"tenant": ["kopi"], **raw})


@pytest.mark.parametrize(("given", "expected"), [
    ("EN_us", "en-US"), ("Bahasa Indonesia", "bahasa indonesia"), ("x" * 512, "x" * 512),
])
def test_a_locale_filter_is_a_tag_or_any_locale_as_facets_show_it(given: str,
                                                                   expected: str) -> None:
    assert parse_search_params({"tenant": ["kopi"], "locale": [given]}).locale == expected


def test_twenty_tags_over_both_names_are_fine() -> None:
    raw = {"tenant": ["kopi"], "tags": ["a,b,c,d,e,f,g,h,i,j"], "tag": ["k,l,m,n,o,p,q,r,s,t"]}
    assert len(parse_search_params(raw).tags) == 20


@pytest.mark.parametrize(("query_string", "expected"), [
    (b"q=caf\xc3\xa9", {"q": ["caf\u00e9"]}),  # raw UTF-8: as if it had been %-encoded
    (b"q=caf%C3%A9", {"q": ["caf\u00e9"]}),
    (b"q=\xff", None), (b"q=caf\xc3", None), (b"q=%ff", None),
])
def test_query_string_bytes_are_utf8_raw_or_escaped(query_string: bytes,
                                                    expected: dict[str, list[str]] | None) -> None:
    # raw bytes were read as Latin-1: "caf\xc3\xa9" searched "cafÃ©" and "\xff" was "ÿ"
    from starlette.requests import Request

    from search_svc.api import raw_query_params

    request = Request({"type": "http", "query_string": query_string, "headers": []})
    if expected is None:
        with pytest.raises(InvalidQuery):
            raw_query_params(request)
    else:
        assert raw_query_params(request) == expected


@pytest.mark.parametrize("ratio", [" 0.5", "0.5 ", "0.5\n", "\uff10.\uff15", "\u0661", "0_5",
                                   "5e-1", "-0", "+0.5", "nan", "inf", ".", "0x1", "1.5"])
def test_semantic_ratio_is_a_plain_decimal_from_0_to_1(ratio: str) -> None:
    # float() took spaces, a newline, other scripts' digits, '_', exponents and '-0':
    # each a second URL (a second CDN entry) for one answer, as 'limit' refuses them
    with pytest.raises(InvalidQuery):
        parse_search_params({"tenant": ["kopi"], "semantic_ratio": [ratio]})


@pytest.mark.parametrize(("ratio", "expected"), [
    ("0", 0.0), ("1", 1.0), ("0.45", 0.45), (".5", 0.5), ("1.0", 1.0), ("", None),
])
def test_semantic_ratio_decimals_are_taken(ratio: str, expected: float | None) -> None:
    params = parse_search_params({"tenant": ["kopi"], "semantic_ratio": [ratio]})
    assert params.semantic_ratio == expected


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("20", 20), ("100", 100)])
def test_integers_are_taken_in_their_one_plain_spelling(text: str, expected: int) -> None:
    assert parse_search_params({"tenant": ["kopi"], "offset": [text]}).offset == expected
    for other in ("0" + text, "-0" + text, "+" + text):
        if other != text:
            with pytest.raises(InvalidQuery):
                parse_search_params({"tenant": ["kopi"], "offset": [other]})
