"""Known-item queries derived from a collection: one title word per document, as typed
and misspelled by one edit, that document the only relevant one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz.distance import OSA

from bench.known_items import MIN_LETTERS, known_item_collections, misspell
from bench.relevance import Collection

_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=MIN_LETTERS, max_size=14)


@given(_WORDS, st.sets(_WORDS, max_size=20))
def test_a_misspelling_is_one_edit_away_keeps_the_first_letter_and_is_no_word(
        word: str, vocabulary: set[str]) -> None:
    typo = misspell(word, vocabulary | {word}, seed=word)
    assert OSA.distance(word, typo) == 1
    assert typo[0] == word[0] and typo not in vocabulary | {word}
    assert misspell(word, vocabulary | {word}, seed=word) == typo  # deterministic


def test_each_query_names_its_document_by_a_rare_title_word() -> None:
    docs = {
        "1": ("Kopi Gayo dari Aceh", "roasting kopi gayo"),
        "2": ("Kopi Toraja legendaris", "kopi dari toraja"),
        "3": ("Harga kopi naik", "pasar kopi ramai"),
        "4": ("Pasar", "kopi kopi kopi"),  # no title word of six letters
    }
    base = Collection("set", docs, {"1": "topical"}, {"1": {"1": 1.0}})
    known, typo = known_item_collections(base, limit=10)
    assert (known.name, typo.name) == ("set:known", "set:known-typo")
    assert known.docs is base.docs and typo.docs is base.docs
    asked = {known.queries[q]: next(iter(known.judgements[q])) for q in known.queries}
    # the rarest long title word of each document that has one; "legendaris" is in one
    # document, "toraja" in one too but shorter: the rarer and longer wins
    assert asked == {"legendaris": "2"}
    assert list(typo.judgements.values()) == list(known.judgements.values())
    assert OSA.distance(typo.queries["1"], "legendaris") == 1
