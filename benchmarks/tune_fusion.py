"""Choose the fusion weights by k-fold cross-validation and calibrate `weak`, reusing one ingested data dir.

    python benchmarks/tune_fusion.py --data-dir /tmp/kb-eval ../shared/eval/dev.jsonl ../shared/eval/dev-more.jsonl \
        --offtopic ../shared/eval/offtopic-dev.jsonl

Each query's evidence (every signal's scores) is computed once; each fold picks the grid point with the best
mean nDCG@10 on the other folds and is scored on its own queries, so the reported per-fold scores are held out.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import statistics
from dataclasses import replace
from pathlib import Path

from kb.settings import Settings
from kb.workspace import Workspace
from search.fusion import FusionWeights, WeakCalibration

GRID = (0.0, 0.5, 1.0)
FOLDS = 5


def load_scorer(path: Path):
    spec = importlib.util.spec_from_file_location("score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queries", type=Path, nargs="+")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--offtopic", type=Path, help="questions the base cannot answer, to calibrate `weak`")
    parser.add_argument("--scorer", type=Path, default=None, help="score.py (default: beside the first queries file)")
    args = parser.parse_args()
    scorer = load_scorer(args.scorer or args.queries[0].parent / "score.py")
    queries = [q for path in args.queries for q in load(path)]
    searcher = Workspace(Settings.from_env(data_dir=args.data_dir)).searcher
    evidence = {q["id"]: searcher.evidence(q["query"], titles=True) for q in queries}
    names = [n for n in FusionWeights.names() if n == "title" or any(n in e.signals for e in evidence.values())]

    def ndcg(weights: FusionWeights, subset: list[dict]) -> float:
        searcher.weights = weights
        results = {q["id"]: [r.to_json() for r in searcher.rank(evidence[q["id"]], k=10)] for q in subset}
        return scorer.summarise(scorer.score(subset, results))["all"]["ndcg"]

    grid = [FusionWeights(**dict(zip(names, point))) for point in itertools.product(GRID, repeat=len(names)) if point[0] > 0]
    folds = [queries[i::FOLDS] for i in range(FOLDS)]
    per_fold = [{id(w): ndcg(w, fold) for w in grid} for fold in folds]
    print(f"{len(queries)} queries, {len(grid)} weight settings, {FOLDS} folds")
    held_out = []
    for i, fold in enumerate(folds):
        n_train = len(queries) - len(fold)
        best = max(grid, key=lambda w: sum(per_fold[j][id(w)] * len(folds[j]) for j in range(FOLDS) if j != i) / n_train)
        held_out.append(per_fold[i][id(best)])
        print(f"fold {i + 1}: n={len(fold)} held-out nDCG@10 {held_out[-1]:.3f} with {best}")
    print(f"cross-validated nDCG@10 {statistics.mean(held_out):.3f}")
    overall = max(grid, key=lambda w: sum(per_fold[j][id(w)] * len(folds[j]) for j in range(FOLDS)))
    print(f"chosen on all folds: {overall}")

    tops = {name: [e.tops[name] for e in evidence.values() if name in e.tops] for name in ("dense", "sparse", "use")}
    calibration = WeakCalibration(
        **{name: (round(statistics.mean(v), 3), round(statistics.stdev(v), 3)) for name, v in tops.items() if len(v) > 1}
    )
    on = sorted(calibration.z(e.tops) for e in evidence.values())
    print("on-topic mean z of top scores, lowest:", [round(z, 2) for z in on[:8]])
    if args.offtopic:
        off = sorted(calibration.z(searcher.evidence(q["query"]).tops) for q in load(args.offtopic))
        print("off-topic mean z of top scores, highest:", [round(z, 2) for z in off[-8:]])
    # Flag at most about 3% of answered queries: the threshold sits at their 3rd percentile.
    threshold = on[max(0, int(0.03 * len(on)) - 1)] if on else 0.0
    print(f"calibration: {replace(calibration, threshold=round(threshold, 2))}")


if __name__ == "__main__":
    main()
