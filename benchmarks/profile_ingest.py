"""Where a first ingest's time goes: cProfile of `Ingestor.ingest` over a generated corpus, synthetic vectors.

    python benchmarks/profile_ingest.py 2000 /tmp/profile-ingest
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import time
from pathlib import Path

from kb.bench.runner import open_workspace, warm_up
from kb.bench.synthetic import Corpus
from kb.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chunks", type=int)
    parser.add_argument("work_dir", type=Path)
    args = parser.parse_args()
    shutil.rmtree(args.work_dir, ignore_errors=True)
    Corpus(0).write(args.work_dir / "corpus", args.chunks)
    workspace, _ = open_workspace(Settings(data_dir=args.work_dir / "data"), synthetic=True)
    warm_up(workspace)
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    report = workspace.ingestor.ingest([args.work_dir / "corpus"])
    profile.disable()
    seconds = time.perf_counter() - started
    chunks = sum(f.chunks for f in report.files)
    print(f"{chunks} chunks in {seconds:.2f} s: {chunks / seconds:.1f} chunks/s (profiler on)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
