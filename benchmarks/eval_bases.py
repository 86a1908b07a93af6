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
    bases = {
        "seeds": [seeds],
        "seeds+corpus": [seeds, REPO / "corpus"],
        "seeds+distractors": [seeds, own / "distractors"],
        "mixed": [seeds, REPO / "corpus", own / "distractors"],
    }
    gold = {"dev": evals / "dev.jsonl", "dev-more": evals / "dev-more.jsonl"}
    offtopic = {"offtopic-dev": evals / "offtopic-dev.jsonl", "offtopic-more": own / "offtopic-more.jsonl"}
    # The folders with their own sets: (gold sets, off-topic sets), scored on every base that holds the folder.
    own_sets = {REPO / "corpus": ({"corpus-gold": own / "corpus-gold.jsonl", "corpus-more": own / "corpus-more.jsonl"}, {})}
    for unseen in ("fresh", "fresh2", "fresh3"):
        folder = own / unseen
        bases[f"seeds+{unseen}"] = [seeds, folder / "docs"]
        own_sets[folder / "docs"] = (
            {f"{unseen}-gold": folder / f"{unseen}-gold.jsonl"},
            {f"offtopic-{unseen}": folder / f"offtopic-{unseen}.jsonl"},
        )

    for base, folders in bases.items():
        data = args.work_dir / base
        if not (data / "catalog.sqlite").is_file():
            subprocess.run([*KB, "--data-dir", str(data), "ingest", *map(str, folders)], check=True, stdout=subprocess.DEVNULL)
        command = " ".join([*KB, "--data-dir", str(data), "search", "--jsonl"])
        held = [own_sets[folder] for folder in folders if folder in own_sets]
        sets = {**gold, **{name: path for gold_sets, _ in held for name, path in gold_sets.items()}}
        on_topic = data.with_name(f"{base}.on-topic.jsonl")  # every gold question of this base: false alarms
        on_topic.write_text("".join(path.read_text(encoding="utf-8") for path in sets.values()), encoding="utf-8")
        off_sets = {**offtopic, **{name: path for _, off in held for name, path in off.items()}}
        scored = [("score.py", name, [str(path)]) for name, path in sets.items()]
        scored += [("weak.py", name, [str(on_topic), str(path)]) for name, path in off_sets.items()]
        for scorer, name, inputs in scored:
            out = subprocess.run(
                [sys.executable, str(evals / scorer), *inputs, "--cmd", command, "--json"], capture_output=True, text=True, check=True
            )
            row = {"base": base, "set": name, **json.loads(out.stdout.strip().splitlines()[-1])}
            print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
