"""Time `Catalog.lesson_ids` for the filters of the bench query load (what a filtered search asks SQLite).

    python benchmarks/filter_lesson_ids.py /tmp/b100k/data/catalog.sqlite
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from kb.bench.synthetic import Corpus
from kb.catalog import Catalog
from kb.domain import SearchFilters
from ingest.tagging import Facets
from kb.settings import Settings


def main() -> None:
    started = time.perf_counter()
    catalog = Catalog(Path(sys.argv[1]))
    print(f"open (and migrate) {time.perf_counter() - started:.1f} s")
    facets = Facets.load(Settings(data_dir=Path(sys.argv[1]).parent).taxonomy_path)
    filters = [facets.canonical_filters(SearchFilters(**given)) for _, given in Corpus(0).queries(200) if given]
    seconds, counts = [], []
    for chosen in filters:
        started = time.perf_counter()
        counts.append(len(catalog.lesson_ids(chosen)))
        seconds.append(time.perf_counter() - started)
    ms = np.asarray(seconds) * 1000
    print(f"{len(filters)} filters, median {int(np.median(counts))} lessons each: p50 {np.median(ms):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms")


if __name__ == "__main__":
    main()
