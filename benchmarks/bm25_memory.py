"""Build time and peak memory of a character-bigram BM25 index over synthetic chunk texts, from bm25s's lists of
strings (`str`) or from token ids (`ids`, as search/signals.py builds it); run each mode in its own process.

    python benchmarks/bm25_memory.py 100000 ids
"""

from __future__ import annotations

import resource
import sys
import time

import bm25s

from kb.bench.synthetic import Corpus
from kb.textnorm import char_bigrams
from search.signals import _bm25


def main() -> None:
    size, mode = int(sys.argv[1]), sys.argv[2]
    texts: list[str] = []
    for file in Corpus(0).files(size):
        texts.extend(paragraph[:300] for paragraph in file.text.split("\n\n") if len(paragraph) > 40)
        if len(texts) >= size:
            break
    texts = texts[:size]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if mode == "str":
        bm25s.BM25().index([char_bigrams(text) for text in texts], show_progress=False)
    else:
        _bm25(char_bigrams(text) for text in texts)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{mode}: {len(texts)} texts, {seconds:.1f} s, peak RSS +{(peak - before) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
