"""Score every gold and off-topic set on seven bases: the seeds alone, the seeds with corpus/, the seeds mixed with
unrelated documents (tests/eval/distractors/), all three together, and the seeds with each of tests/eval/fresh/,
fresh2/ and fresh3/ (documents written after every calibration, with unrelated ones among them, and never used for
tuning; fresh2's and fresh3's longer and partly scraped, written without running kb). One JSON line per (base, set).

    python benchmarks/eval_bases.py WORK_DIR [--shared ../shared]

Bases are ingested into WORK_DIR/<base> once and reused; delete a folder to ingest it again. The scorers are
../shared/eval/score.py and weak.py, run over `kb search --jsonl` as the README shows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-m", "kb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = parser.parse_args()
    evals, seeds = args.shared / "eval", args.shared / "seeds"
    own = REPO / "tests" / "eval"
    fresh, fresh2, fresh3 = own / "fresh", own / "fresh2", own / "fresh3"
    bases = {
        "seeds": [seeds],
        "seeds+corpus": [seeds, REPO / "corpus"],
        "seeds+distractors": [seeds, own / "distractors"],
        "mixed": [seeds, REPO / "corpus", own / "distractors"],
        "seeds+fresh": [seeds, fresh / "docs"],
        "seeds+fresh2": [seeds, fresh2 / "docs"],
        "seeds+fresh3": [seeds, fresh3 / "docs"],
    }
    gold = {"dev": evals / "dev.jsonl", "dev-more": evals / "dev-more.jsonl"}
    # The folders with their own sets: (gold sets, off-topic sets) scored on every base that holds the folder.
    own_sets = {
        REPO / "corpus": ({"corpus-gold": own / "corpus-gold.jsonl", "corpus-more": own / "corpus-more.jsonl"}, {}),
        fresh / "docs": ({"fresh-gold": fresh / "fresh-gold.jsonl"}, {"offtopic-fresh": fresh / "offtopic-fresh.jsonl"}),
        fresh2 / "docs": ({"fresh2-gold": fresh2 / "fresh2-gold.jsonl"}, {"offtopic-fresh2": fresh2 / "offtopic-fresh2.jsonl"}),
        fresh3 / "docs": ({"fresh3-gold": fresh3 / "fresh3-gold.jsonl"}, {"offtopic-fresh3": fresh3 / "offtopic-fresh3.jsonl"}),
    }
    offtopic = {"offtopic-dev": evals / "offtopic-dev.jsonl", "offtopic-more": own / "offtopic-more.jsonl"}

    rows = []
    for base, folders in bases.items():
        data = args.work_dir / base
        if not (data / "catalog.sqlite").is_file():
            subprocess.run([*KB, "--data-dir", str(data), "ingest", *map(str, folders)], check=True, stdout=subprocess.DEVNULL)
        command = " ".join([*KB, "--data-dir", str(data), "search", "--jsonl"])
        sets = {**gold, **{name: path for folder in folders for name, path in own_sets.get(folder, ({}, {}))[0].items()}}
        for name, path in sets.items():
            out = subprocess.run([sys.executable, str(evals / "score.py"), str(path), "--cmd", command, "--json"], capture_output=True, text=True, check=True)
            summary = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"base": base, "set": name, **summary})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        on_topic = data.with_name(f"{base}.on-topic.jsonl")  # every gold question of this base: false alarms
        on_topic.write_text("".join(path.read_text(encoding="utf-8") for path in sets.values()), encoding="utf-8")
        off_sets = {**offtopic, **{name: path for folder in folders for name, path in own_sets.get(folder, ({}, {}))[1].items()}}
        for name, path in off_sets.items():
            out = subprocess.run(
                [sys.executable, str(evals / "weak.py"), str(on_topic), str(path), "--cmd", command, "--json"],
                capture_output=True, text=True, check=True,
            )
            rows.append({"base": base, "set": name, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
