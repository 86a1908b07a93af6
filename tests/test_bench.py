"""The synthetic corpus and the `kb bench` commands: deterministic input, valid JSON out (no timing asserted)."""

from __future__ import annotations

import json
from collections import Counter

from kb.bench.synthetic import Corpus


def test_the_same_seed_writes_the_same_corpus_and_another_seed_a_different_one():
    first = [(f.name, f.text) for f in Corpus(seed=7).files(300)]
    assert first == [(f.name, f.text) for f in Corpus(seed=7).files(300)]
    assert first != [(f.name, f.text) for f in Corpus(seed=8).files(300)]
    assert Corpus(seed=7).queries(20) == Corpus(seed=7).queries(20)


def test_the_corpus_has_reviews_playbooks_english_and_a_zipf_shaped_vocabulary():
    corpus = Corpus(seed=1)
    files = list(corpus.files(3000))
    kinds = Counter(f.kind for f in files)
    assert kinds["review"] > kinds["playbook"] > 0
    assert any("deal review" in f.text for f in files) and any("项目复盘" in f.text for f in files)
    assert {f.outcome for f in files if f.kind == "review"} == {"win", "loss", "no-decision"}
    assert len(set(corpus.vocabulary.terms)) == len(corpus.vocabulary.terms) >= 20_000
    text = "\n".join(f.text for f in files)
    counts = sorted((text.count(term) for term in corpus.vocabulary.terms[:2000:100]), reverse=True)
    assert counts[0] > 20 * max(counts[-1], 1)  # the head of the ranking is far more frequent than its tail
    queries = corpus.queries(40)
    assert any(filters for _, filters in queries) and any(q.isascii() for q, _ in queries)
