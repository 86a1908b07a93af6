"""Where a search's time goes: cProfile of the bench query load over a data dir, after the searcher's warm-up.

    python benchmarks/profile_search.py /tmp/b100k/data [--queries 40]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from pathlib import Path

import numpy as np

from kb.bench.synthetic import Corpus
from kb.settings import Settings
from kb.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    searcher = Workspace(Settings(data_dir=args.data_dir)).searcher
    started = time.perf_counter()
    searcher.warm_up()
    print(f"warm-up {time.perf_counter() - started:.1f} s")
    profile = cProfile.Profile()
    seconds = []
    for query, _ in Corpus(0).queries(args.queries):
        started = time.perf_counter()
        profile.enable()
        searcher.search(query, k=10)
        profile.disable()
        seconds.append(time.perf_counter() - started)
    ms = np.asarray(seconds) * 1000
    print(f"p50 {np.median(ms):.1f} ms p95 {np.percentile(ms, 95):.1f} ms (profiler on)")
    pstats.Stats(profile).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
