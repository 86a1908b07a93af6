"""The query log and the counts trainers look at: what is searched, what finds nothing, what the base holds."""

from __future__ import annotations

from dataclasses import dataclass

from kb.catalog import Catalog, utc_now

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

    def log_query(self, query: str, result_count: int, top_score: float | None, *, weak: bool = False) -> None:
        """Record a search; ``weak`` is search's verdict that no result really matched."""
        self.db.execute(
            "INSERT INTO query_log (query, result_count, top_score, weak, created_at) VALUES (?, ?, ?, ?, ?)",
            (query.strip(), result_count, top_score, int(weak), utc_now()),
        )

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
