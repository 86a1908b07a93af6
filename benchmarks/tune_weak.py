"""Choose the weak verdict's off-domain weights and threshold (search/fusion.py WeakCalibration) on several bases.

    python benchmarks/tune_weak.py WORK_DIR [--shared ../shared]

WORK_DIR holds the bases that benchmarks/eval_bases.py ingests (seeds, seeds+corpus, mixed). For every question
of every set the searcher's view z-score and off-domain margins (the engine's and the universal sentence
encoder's) are read once; then each (dense weight, use weight, threshold) of a grid is scored on the training sets by its worst base (off-topic flagged less twice the on-topic flagged) and the
best is checked on the held-out sets. Prints one JSON line per choice, best first.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from kb.settings import Settings
from kb.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
BASES = ("seeds", "seeds+corpus", "mixed")
TRAIN = (("dev", "dev-more", "corpus-gold"), ("offtopic-dev",))
HELD_OUT = (("dev-more", "corpus-more"), ("offtopic-more",))


def _queries(path: Path) -> list[str]:
    return [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _read(data_dir: Path, sets: dict[str, Path]) -> dict[str, np.ndarray]:
    """(z, dense margin, use margin) rows of each set's questions on one base."""
    workspace = Workspace(Settings(data_dir=data_dir))
    try:
        searcher = workspace.searcher
        read = {}
        for name, path in sets.items():
            rows = []
            for query in _queries(path):
                evidence = searcher.evidence(query)
                margins = evidence.off_domain
                rows.append((searcher.calibration.z(evidence.tops), margins.get("dense", 0.0), margins.get("use", 0.0)))
            read[name] = np.array(rows, dtype=np.float64)
        return read
    finally:
        workspace.close()


def _flagged(rows: list[np.ndarray], weights: tuple[float, float], threshold: float) -> float:
    both = np.concatenate(rows)
    return float(((both[:, 0] - weights[0] * both[:, 1] - weights[1] * both[:, 2]) < threshold).mean())


def _shares(
    read: dict[str, dict[str, np.ndarray]], split: tuple[tuple[str, ...], tuple[str, ...]], weights: tuple[float, float], threshold: float
) -> dict:
    on, off = split
    shares = {}
    for base, sets in read.items():
        shares[base] = {
            "on_topic_flagged": round(_flagged([sets[s] for s in on if s in sets], weights, threshold), 3),
            "off_topic_flagged": round(_flagged([sets[s] for s in off], weights, threshold), 3),
        }
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    own = REPO / "tests" / "eval"
    paths = {
        "dev": args.shared / "eval" / "dev.jsonl",
        "dev-more": args.shared / "eval" / "dev-more.jsonl",
        "offtopic-dev": args.shared / "eval" / "offtopic-dev.jsonl",
        "corpus-gold": own / "corpus-gold.jsonl",
        "corpus-more": own / "corpus-more.jsonl",
        "offtopic-more": own / "offtopic-more.jsonl",
    }
    read = {}
    for base in BASES:
        sets = {name: path for name, path in paths.items() if base != "seeds" or not name.startswith("corpus")}
        read[base] = _read(args.work_dir / base, sets)
    choices = []
    for weights in itertools.product((0, 25, 50, 100, 150, 200, 300), (0, 5, 10, 15, 20, 30, 50)):
        for threshold in np.round(np.arange(-4.0, 3.01, 0.1), 2):
            shares = _shares(read, TRAIN, weights, float(threshold))
            worst = min(s["off_topic_flagged"] for s in shares.values()) - 2 * max(s["on_topic_flagged"] for s in shares.values())
            choices.append((worst, weights, float(threshold), shares))
    choices.sort(key=lambda c: -c[0])
    for worst, (dense, use), threshold, shares in choices[:8]:
        held_out = _shares(read, HELD_OUT, (dense, use), threshold)
        off_domain = {"dense": dense, "use": use}
        print(json.dumps({"off_domain": off_domain, "threshold": threshold, "train_worst": round(worst, 3), "train": shares, "held_out": held_out}))


if __name__ == "__main__":
    main()
