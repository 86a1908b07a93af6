"""Peak memory of the in-memory search indexes: loaded once, then rebuilt beside the loaded copy (what a
background rebuild holds while it runs).

    python benchmarks/index_memory.py /tmp/b100k/data
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from kb.settings import Settings
from kb.workspace import Workspace


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    searcher = Workspace(Settings(data_dir=args.data_dir)).searcher
    started = time.perf_counter()
    searcher.warm_up()
    print(f"load {time.perf_counter() - started:.1f} s, peak {peak_mb():.0f} MB")
    searcher.signals._rebuild_in_background()
    searcher.signals.settle()
    print(f"after a rebuild beside the loaded indexes: peak {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
