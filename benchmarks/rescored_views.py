"""What scoring a view over the other signals' candidates only (search.searcher.RESCORING_VIEWS) changes: the top-10
lessons of the bench's generated questions with every view scanning every chunk, against the shipped searcher, over a
data dir with real vectors (`kb bench ingest --chunks 20000 --work-dir DIR` builds one), and the CPU a search took.

    python benchmarks/rescored_views.py DIR/data [--queries 100]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import search.searcher as searcher_module
from kb.bench.synthetic import Corpus
from kb.settings import Settings
from kb.workspace import Workspace


def _top_lessons(searcher, queries: list[str], rescoring: frozenset[str]) -> tuple[list[list[str]], float]:
    """Each question's top-10 lesson ids with these views rescoring, and the mean CPU seconds of a search."""
    searcher_module.RESCORING_VIEWS = rescoring
    searcher.search(queries[0])
    started = time.process_time()
    found = [[r.lesson_id for r in searcher.search(query, k=10)] for query in queries]
    return found, (time.process_time() - started) / len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    shipped = searcher_module.RESCORING_VIEWS
    searcher = Workspace(Settings(data_dir=args.data_dir)).searcher
    searcher.warm_up()
    queries = [query for query, _ in Corpus(0).queries(args.queries)]
    scanned, scanned_cpu = _top_lessons(searcher, queries, frozenset())
    rescored, rescored_cpu = _top_lessons(searcher, queries, shipped)
    overlap = [len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(scanned, rescored)]
    print(
        json.dumps(
            {
                "chunks": len(searcher.signals.current().chunk_ids),
                "queries": len(queries),
                "rescoring_views": sorted(shipped),
                "top10_overlap_mean": round(float(np.mean(overlap)), 4),
                "top10_identical_share": round(float(np.mean([a == b for a, b in zip(scanned, rescored)])), 4),
                "top1_same_share": round(float(np.mean([a[:1] == b[:1] for a, b in zip(scanned, rescored)])), 4),
                "cpu_ms_per_search_scanned": round(scanned_cpu * 1000, 1),
                "cpu_ms_per_search_rescored": round(rescored_cpu * 1000, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
