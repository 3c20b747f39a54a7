"""Build the Indonesian judged set's SMART files from its sources.

    python bench/data/id_judged/build.py

Reads ``source/docs_*.txt`` (hand-written: ``## key | title`` then the text),
``templated.py`` (product, event, village and job pages) and ``source/queries.txt``;
checks every judged key exists and that each paraphrase query shares no word with its
target (marked ``!``); writes ``id.all`` (.I/.T/.W), ``id.qry`` (.I/.W), ``id.qrel``
("query doc grade") and ``id.keys`` (document number → key, query number → type).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from templated import templated_documents  # noqa: E402

WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> set[str]:
    return {w.lower() for w in WORD.findall(text)}


def hand_documents() -> list[tuple[str, str, str]]:
    docs = []
    for path in sorted((HERE / "source").glob("docs_*.txt")):
        for block in path.read_text(encoding="utf-8").split("\n## ")[0:]:
            block = block.removeprefix("## ").strip()
            if not block:
                continue
            head, _, text = block.partition("\n")
            key, _, title = head.partition("|")
            docs.append((key.strip(), title.strip(), " ".join(text.split())))
    return docs


def queries() -> list[tuple[str, str, list[tuple[str, int, bool]]]]:
    out = []
    raw = (HERE / "source" / "queries.txt").read_text(encoding="utf-8")
    for block in raw.split("\n## ")[1:]:
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        qtype, text, judged = lines[0], lines[1], lines[2]
        assert judged.startswith("= "), block
        grades = []
        for item in judged[2:].split():
            key, _, grade = item.partition(":")
            grades.append((key, int(grade.rstrip("!")), grade.endswith("!")))
        out.append((qtype, text, grades))
    return out


def main() -> None:
    docs = hand_documents() + templated_documents()
    number = {key: i for i, (key, _, _) in enumerate(docs, start=1)}
    assert len(number) == len(docs), "duplicate document keys"
    by_key = {key: (title, text) for key, title, text in docs}
    qs = queries()
    problems = []
    for n, (qtype, text, grades) in enumerate(qs, start=1):
        seen = set()
        for key, grade, target in grades:
            if key not in number:
                problems.append(f"query {n}: unknown document {key}")
                continue
            if key in seen:
                problems.append(f"query {n}: {key} judged twice")
            seen.add(key)
            if not 0 <= grade <= 3:
                problems.append(f"query {n}: grade {grade}")
            if target:
                shared = words(text) & words(" ".join(by_key[key]))
                if shared:
                    problems.append(f"query {n} ({text!r}) shares {sorted(shared)} with {key}")
        if qtype == "id-para" and not any(t for _, _, t in grades):
            problems.append(f"query {n}: paraphrase without a '!' target")
        if not any(g > 0 for _, g, _ in grades):
            problems.append(f"query {n}: nothing relevant")
    if problems:
        raise SystemExit("\n".join(problems))

    with open(HERE / "id.all", "w", encoding="utf-8") as fh:
        for key, title, text in docs:
            fh.write(f".I {number[key]}\n.T\n{title}\n.W\n{text}\n")
    with open(HERE / "id.qry", "w", encoding="utf-8") as fh:
        for n, (_, text, _) in enumerate(qs, start=1):
            fh.write(f".I {n}\n.W\n{text}\n")
    with open(HERE / "id.qrel", "w", encoding="utf-8") as fh:
        for n, (_, _, grades) in enumerate(qs, start=1):
            for key, grade, _ in grades:
                fh.write(f"{n} {number[key]} {grade}\n")
    with open(HERE / "id.keys", "w", encoding="utf-8") as fh:
        for key, _, _ in docs:
            fh.write(f"doc {number[key]} {key}\n")
        for n, (qtype, _, _) in enumerate(qs, start=1):
            fh.write(f"query {n} {qtype}\n")
    english = sum(1 for key, _, _ in docs if key.startswith("en-"))
    types: dict[str, int] = {}
    for qtype, _, _ in qs:
        types[qtype] = types.get(qtype, 0) + 1
    print(f"{len(docs)} documents ({english} English), {len(qs)} queries {types}, "
          f"{sum(len(g) for _, _, g in qs)} judgements")


if __name__ == "__main__":
    main()
