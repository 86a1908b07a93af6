"""Grid-search the fusion weights on a gold query set (the dev set), reusing one ingested data dir.

    python benchmarks/tune_fusion.py --data-dir /tmp/kb-eval ../shared/eval/dev.jsonl
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
from pathlib import Path

from kb.settings import Settings
from kb.workspace import Workspace
from search.fusion import FusionWeights


def load_scorer(path: Path):
    spec = importlib.util.spec_from_file_location("score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queries", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--scorer", type=Path, default=None, help="score.py (default: beside the queries)")
    args = parser.parse_args()
    scorer = load_scorer(args.scorer or args.queries.parent / "score.py")
    queries = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    workspace = Workspace(Settings.from_env(data_dir=args.data_dir))
    searcher = workspace.searcher
    rows = []
    for dense, title, constant in itertools.product((0.75, 1.0, 1.5, 2.0), (0.0, 0.5, 1.0), (10, 20, 40, 60)):
        searcher.weights = FusionWeights(dense=dense, lexical=1.0, title=title, rank_constant=constant)
        results = {q["id"]: [r.to_json() for r in searcher.search(q["query"], k=10)] for q in queries}
        table = scorer.summarise(scorer.score(queries, results))
        crosslingual = table.get("crosslingual", {}).get("r5", 0.0)
        rows.append((table["all"]["ndcg"], table["all"]["r5"], crosslingual, table["all"]["hit1"], dense, title, constant))
    print(f"{'nDCG@10':>8}{'R@5':>7}{'xR@5':>7}{'hit@1':>7}{'dense':>7}{'title':>7}{'k':>5}")
    for ndcg, r5, xr5, hit1, dense, title, constant in sorted(rows, reverse=True)[:20]:
        print(f"{ndcg:>8.3f}{r5:>7.3f}{xr5:>7.3f}{hit1:>7.3f}{dense:>7.2f}{title:>7.2f}{constant:>5}")


if __name__ == "__main__":
    main()
