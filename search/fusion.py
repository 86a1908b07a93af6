"""Fusion of ranked lists: weighted reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FusionWeights:
    """Dense and lexical weights and the RRF rank constant, tuned with benchmarks/tune_fusion.py.

    The dev set's surface is flat around these values; a smaller rank constant buys top-rank
    precision on Chinese queries at the cost of English ones, so a middle value is kept.
    """

    dense: float = 1.5
    lexical: float = 1.0
    title: float = 0.5
    rank_constant: int = 20


def reciprocal_rank_fusion(rankings: Sequence[tuple[Sequence[str], float]], rank_constant: int) -> dict[str, float]:
    """score(id) = Σ weight / (rank_constant + rank) over the rankings that contain it."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rank_constant + rank)
    return scores
