"""Wall time of short CLI commands against a bare Python start, the median of several runs each.

    python benchmarks/cli_startup.py DATA_DIR [--runs 10] [--query "…"]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_s(command: list[str], runs: int) -> tuple[float, float, float]:
    """Median, least and most seconds of the command."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), min(seconds), max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--query", default="如何与客户建立信任")
    args = parser.parse_args()
    kb = [sys.executable, "-m", "kb", "--data-dir", str(args.data_dir)]
    commands = {
        "bare python": [sys.executable, "-c", "pass"],
        "kb --help": [*kb, "--help"],
        "kb stats": [*kb, "stats"],
        "kb search (one query)": [*kb, "search", args.query],
    }
    for name, command in commands.items():
        runs = 3 if "search" in name else args.runs
        median, least, most = wall_s(command, runs)
        print(f"{name}: median {median:.3f} s (least {least:.3f}, most {most:.3f}, {runs} runs)")


if __name__ == "__main__":
    main()
