"""The query log and the counts trainers look at: what is searched, what finds nothing, what the base holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from kb.catalog import Catalog, utc_now, utc_today
from kb.domain import DUE_SOON_DAYS


@dataclass(frozen=True)
class QueryStat:
    query: str
    count: int
    last_result_count: int
    best_score: float | None


class Insights:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @property
    def db(self):
        return self.catalog.db

    def log_query(
        self,
        query: str,
        result_count: int,
        top_score: float | None,
        *,
        weak: bool = False,
        top_stale: bool | None = None,
        gap_id: int | None = None,
    ) -> None:
        """Record a search; ``weak`` is search's verdict that no result really matched, ``top_stale`` whether the
        first result was past its verify-by date (None: no result), ``gap_id`` the gap a weak search was counted in."""
        self.db.execute(
            "INSERT INTO query_log (query, result_count, top_score, weak, top_stale, gap_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (query.strip(), result_count, top_score, int(weak), None if top_stale is None else int(top_stale), gap_id, utc_now()),
        )

    def trust(self, due_within_days: int = DUE_SOON_DAYS) -> dict[str, int | float | None]:
        """How far the base can be trusted: of the lessons in search, the share verified and in date (and how many are
        stale, due within ``due_within_days`` or to re-check); of the logged searches with a result, the share whose
        top result was stale when asked (searches logged before kb recorded it are not counted)."""
        counts = self.catalog.lifecycle_counts((utc_today() + timedelta(days=due_within_days)).isoformat())
        searches, stale_top = self.db.execute(
            "SELECT count(top_stale), coalesce(sum(top_stale), 0) FROM query_log WHERE top_stale IS NOT NULL"
        ).fetchone()
        return {
            **counts,
            "due_within_days": due_within_days,
            "verified_share": _share(counts["verified_in_date"], counts["in_search"]),
            "searches": searches,
            "searches_stale_top": stale_top,
            "stale_top_share": _share(stale_top, searches),
        }

    def frequent_queries(self, limit: int = 20) -> list[QueryStat]:
        rows = self.db.execute(
            """
            SELECT query, count(*) AS n, max(result_count) AS results, max(top_score) AS best
            FROM query_log GROUP BY lower(query) ORDER BY n DESC, max(created_at) DESC LIMIT ?
            """,
            (limit,),
        )
        return [QueryStat(r["query"], r["n"], r["results"], r["best"]) for r in rows]

    def gaps(self, limit: int = 20) -> list[QueryStat]:
        """Queries that found nothing or only weak results: lessons trainers should add."""
        rows = self.db.execute(
            """
            SELECT query, count(*) AS n, max(result_count) AS results, max(top_score) AS best
            FROM query_log GROUP BY lower(query)
            HAVING max(result_count) = 0 OR min(weak) = 1
            ORDER BY n DESC, max(created_at) DESC LIMIT ?
            """,
            (limit,),
        )
        return [QueryStat(r["query"], r["n"], r["results"], r["best"]) for r in rows]

    def lessons_by_month(self) -> dict[str, int]:
        """Lessons per month: a review's date when it has one, else when its document was ingested."""
        rows = self.db.execute(
            """
            SELECT substr(coalesce(json_extract(l.fields, '$.date'), d.ingested_at), 1, 7) AS month, count(*)
            FROM lessons l JOIN documents d ON d.id = l.document_id
            GROUP BY month ORDER BY month
            """
        )
        return {r[0]: r[1] for r in rows if r[0]}

    def queries_by_month(self) -> dict[str, int]:
        rows = self.db.execute("SELECT substr(created_at, 1, 7) AS month, count(*) FROM query_log GROUP BY month ORDER BY month")
        return {r[0]: r[1] for r in rows}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
