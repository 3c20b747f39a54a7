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


def test_a_category_holding_a_comma_can_be_filtered() -> None:
    params = parse_search_params({"tenant": ["kopi"],
                                  "category": ['"Kopi, Teh & Susu"'], "tags": ["a,b"]})
    assert params.categories == ("Kopi, Teh & Susu",) and params.tags == ("a", "b")
