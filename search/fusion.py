"""Fusion of ranked lists: weighted reciprocal-rank fusion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FusionWeights:
    """Tuned on the dev set (see README): dense and lexical weights and the RRF rank constant."""

    dense: float = 1.0
    lexical: float = 1.0
    rank_constant: int = 60


def reciprocal_rank_fusion(rankings: Sequence[tuple[Sequence[str], float]], rank_constant: int) -> dict[str, float]:
    """score(id) = Σ weight / (rank_constant + rank) over the rankings that contain it."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (rank_constant + rank)
    return scores
