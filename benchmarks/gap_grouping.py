"""Calibrate the gap queue's SAME_GAP_SIMILARITY (kb/gaps.py): which cosine between two weak questions' vectors
puts them in one gap.

Two held-out sets of questions a sales knowledge base has no answer for, each a group of one question in Chinese,
a paraphrase of it and its English translation (traditional script folds to simplified before any vector is
made, so it needs no wording of its own). For each threshold the questions are recorded one by one, as search
records them (the nearest recorded question's gap when alike enough, else a new gap), and the grouping is scored
by pairs: precision (two questions in one gap belong together), recall (two that belong together share a gap).
Prints JSON: per set and threshold, precision, recall, F1, and the margin (lowest own-group nearest cosine,
highest other-group nearest cosine).

    .venv/bin/python benchmarks/gap_grouping.py
"""

from __future__ import annotations

import json
import random
from itertools import combinations

import numpy as np

from kb.embedding import UseView
from kb.settings import Settings

SETS = {
    "a": [
        ["出差报销需要哪些发票？", "报销差旅费要准备什么票据", "Which receipts do I need for a travel expense claim?"],
        ["新加坡的个人所得税税率是多少？", "在新加坡工作要交多少个税", "What is the personal income tax rate in Singapore?"],
        ["打印机卡纸了怎么办？", "办公室打印机老是卡纸怎么处理", "The printer keeps jamming, what do I do?"],
        ["清蒸鱼要蒸几分钟？", "蒸鱼一般需要多长时间", "How many minutes should I steam a fish?"],
        ["公司的年假有几天？", "员工每年能休多少天年假", "How many days of annual leave do employees get?"],
        ["怎么申请笔记本电脑？", "新员工的电脑在哪里领", "How do I request a laptop?"],
        ["GitHub 的接口怎么分页？", "GitHub API 分页参数是什么", "How does pagination work in the GitHub API?"],
        ["下周北京会下雨吗？", "北京下周天气怎么样", "Will it rain in Beijing next week?"],
        ["停车位怎么申请？", "公司停车场的车位怎么拿到", "How do I get a parking space at the office?"],
        ["医保卡丢了怎么补办？", "社保卡遗失后去哪里补", "How do I replace a lost health insurance card?"],
        ["会议室怎么预订？", "在哪里订会议室", "How do I book a meeting room?"],
        ["公积金可以提取吗？", "住房公积金怎么取出来", "Can I withdraw my housing fund?"],
    ],
    "b": [
        ["离职手续怎么办？", "辞职要走哪些流程", "What is the process for resigning?"],
        ["怎么修改邮箱密码？", "邮箱密码忘了怎么重置", "How do I reset my email password?"],
        ["信用卡账单怎么分期？", "信用卡还款可以分几期", "How can I pay my credit card bill in instalments?"],
        ["红烧肉怎么做才好吃？", "红烧肉的做法", "How do I cook braised pork belly?"],
        ["护照过期了怎么续签？", "护照到期后怎么换新", "How do I renew an expired passport?"],
        ["体检报告在哪里查？", "年度体检结果去哪里看", "Where can I see my medical check-up report?"],
        ["Python 列表怎么排序？", "Python 里怎样给 list 排序", "How do I sort a list in Python?"],
        ["健身房几点开门？", "公司健身房的开放时间", "What time does the gym open?"],
        ["快递寄到国外要多少钱？", "国际快递的运费怎么算", "How much does it cost to ship a parcel abroad?"],
        ["孩子上幼儿园要准备什么？", "幼儿园入园需要哪些材料", "What do I need for my child to start kindergarten?"],
        ["VPN 连不上怎么办？", "公司 VPN 登录失败", "The VPN will not connect, what should I do?"],
        ["股票分红要交税吗？", "炒股拿到的分红怎么缴税", "Are stock dividends taxed?"],
    ],
}
THRESHOLDS = [round(0.40 + 0.025 * i, 3) for i in range(13)]


def grouped(vectors: np.ndarray, order: list[int], threshold: float) -> list[int]:
    """The gap of each question when recorded in ``order``, as kb/gaps.py's GapQueue.record groups them."""
    gap_of: dict[int, int] = {}
    for i in order:
        recorded = list(gap_of)
        if recorded:
            similarities = vectors[recorded] @ vectors[i]
            best = int(np.argmax(similarities))
            if similarities[best] >= threshold:
                gap_of[i] = gap_of[recorded[best]]
                continue
        gap_of[i] = len(set(gap_of.values())) and max(gap_of.values()) + 1
    return [gap_of[i] for i in range(len(vectors))]


def score(groups: list[list[str]], view: UseView, rounds: int = 20) -> dict[str, object]:
    questions = [q for group in groups for q in group]
    gold = [g for g, group in enumerate(groups) for _ in group]
    vectors = view.embed_passages(questions)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    same = np.equal.outer(gold, gold)
    own = np.where(same, similarity, -1).max(axis=1)
    other = np.where(~same, similarity, -1).max(axis=1)
    rows = {}
    rng = random.Random(0)
    for threshold in THRESHOLDS:
        p = r = 0.0
        for _ in range(rounds):
            order = list(range(len(questions)))
            rng.shuffle(order)
            found = grouped(vectors, order, threshold)
            pairs = list(combinations(range(len(questions)), 2))
            together = [(a, b) for a, b in pairs if found[a] == found[b]]
            belong = [(a, b) for a, b in pairs if gold[a] == gold[b]]
            p += sum(gold[a] == gold[b] for a, b in together) / (len(together) or 1)
            r += sum(found[a] == found[b] for a, b in belong) / len(belong)
        p, r = p / rounds, r / rounds
        rows[threshold] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / ((p + r) or 1), 3)}
    return {
        "questions": len(questions),
        "own_nearest_min": round(float(own.min()), 3),
        "other_nearest_max": round(float(other.max()), 3),
        "nearest_in_own_group": int((own > other).sum()),
        "by_threshold": rows,
    }


def main() -> None:
    view = UseView(Settings().cache_dir)
    print(json.dumps({name: score(groups, view) for name, groups in SETS.items()}, indent=1))


if __name__ == "__main__":
    main()
