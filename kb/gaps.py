"""The gap queue: searches that found nothing that really matches, grouped by meaning into gaps trainers work through.

A search search calls weak is *recorded*: a wording asked before (the same text once folded: script, width, case,
spaces) counts once more; a new wording joins the gap of its nearest recorded question when their vectors are at
least ``SAME_GAP_SIMILARITY`` alike (so the same question in simplified, traditional script or English falls into one
gap), else it opens a gap of its own. A gap is *open* until a trainer answers it with a lesson, or dismisses it, or
until none of its questions is weak any more (answered ``by search``). Weak again after search answered it, it opens
again; a trainer's answer or dismissal stands, and new questions still count under it.

Who may: trainers and admins read the queue (with who asked last) and change a gap's state; ``user=None`` is the
command line. The queue stores the question, its vector and the account that asked last, nothing more
(kb/catalog.py, migration ``i23_gap_queue``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from kb.accounts import Accounts, User
from kb.catalog import Catalog, utc_now
from kb.errors import BadFieldError, ForbiddenError, NotFoundError
from kb.textnorm import fold

GapStatus = Literal["open", "answered", "dismissed"]
GAP_STATUSES: tuple[GapStatus, ...] = ("open", "answered", "dismissed")
# The least cosine between two questions' vectors (the "use" view) that puts them in one gap: the threshold with the
# best pair F1 over two held-out sets of 12 questions each asked three ways (Chinese, a paraphrase, English), both
# printed by benchmarks/gap_grouping.py: F1 0.94 and 1.0 (precision 0.947 and 1.0, recall 0.933 and 1.0); at 0.55
# no two questions of different gaps joined, but 14 % of one set's pairs that belong together split.
SAME_GAP_SIMILARITY = 0.525
# The questions a listed gap shows, most asked first.
EXAMPLES = 5


def question_key(question: str) -> str:
    """What makes two wordings one question: the folded text with its spaces collapsed."""
    return " ".join(fold(question).split())


@dataclass(frozen=True)
class GapQuestion:
    question: str
    asked: int
    first_asked: str
    last_asked: str
    weak: bool
    asked_by: str | None  # the account that asked last: shown to trainers only


@dataclass(frozen=True)
class Gap:
    id: int
    status: GapStatus
    count: int  # every time one of its questions was asked weak
    first_asked: str
    last_asked: str
    created_at: str
    assignee: str | None = None
    answer_lesson_id: str | None = None
    answered_how: Literal["lesson", "search"] | None = None
    closed_by: str | None = None
    closed_at: str | None = None
    questions: list[GapQuestion] = field(default_factory=list)

    def to_json(self, *, askers: bool = False) -> dict[str, object]:
        data = asdict(self)
        if not askers:
            for question in data["questions"]:
                question.pop("asked_by")
        return data


# A gap with its counts over its questions, its assignee's and closer's names.
_GAP_ROWS = """
    SELECT g.*, sum(q.asked) AS count, min(q.first_asked) AS first, max(q.last_asked) AS last,
           a.name AS assignee, c.name AS closer
    FROM gaps g JOIN gap_questions q ON q.gap_id = g.id
    LEFT JOIN users a ON a.id = g.assignee_id LEFT JOIN users c ON c.id = g.closed_by_id"""


def _vector_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).ravel().tobytes()


class GapQueue:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @property
    def db(self):
        return self.catalog.db

    # --- what search feeds in -----------------------------------------------------------------

    def record(self, question: str, vector: np.ndarray, user: User | None = None, *, asked_at: str | None = None) -> int:
        """Count a weak search of ``question`` (``vector``: its meaning) in its gap; the gap's id."""
        key, now = question_key(question), asked_at or utc_now()
        user_id = user.id if user else None
        with self.catalog.transaction() as db:
            row = db.execute("SELECT gap_id FROM gap_questions WHERE key = ?", (key,)).fetchone()
            if row:
                gap_id = int(row["gap_id"])
                db.execute(
                    "UPDATE gap_questions SET asked = asked + 1, weak = 1, last_asked = ?, last_user_id = ? WHERE key = ?",
                    (now, user_id, key),
                )
            else:
                gap_id = self._nearest_gap(vector) or int(
                    db.execute("INSERT INTO gaps (created_at) VALUES (?)", (now,)).lastrowid  # type: ignore[arg-type]
                )
                db.execute(
                    "INSERT INTO gap_questions (gap_id, question, key, vector, first_asked, last_asked, last_user_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (gap_id, " ".join(question.split()), key, _vector_blob(vector), now, now, user_id),
                )
            db.execute(
                "UPDATE gaps SET status = 'open', answer_lesson_id = NULL, answered_how = NULL, closed_by_id = NULL,"
                " closed_at = NULL WHERE id = ? AND answered_how = 'search'",
                (gap_id,),
            )
        return gap_id

    def _nearest_gap(self, vector: np.ndarray) -> int | None:
        """The gap of the recorded question most like ``vector``, when alike enough (vectors of another dimension,
        from another engine, are not compared)."""
        query = np.asarray(vector, dtype=np.float32).ravel()
        query = query / (np.linalg.norm(query) or 1.0)
        rows = self.db.execute("SELECT gap_id, vector FROM gap_questions WHERE length(vector) = ?", (query.nbytes,)).fetchall()
        if not rows:
            return None
        stored = np.frombuffer(b"".join(row["vector"] for row in rows), dtype=np.float32).reshape(len(rows), -1)
        norms = np.linalg.norm(stored, axis=1)
        similarity = (stored @ query) / np.where(norms > 0, norms, 1.0)
        best = len(rows) - 1 - int(np.argmax(similarity[::-1]))  # of equals, the question recorded last
        return int(rows[best]["gap_id"]) if similarity[best] >= SAME_GAP_SIMILARITY else None

    def found(self, question: str, lesson_id: str) -> int | None:
        """A search of ``question`` was not weak (its best lesson ``lesson_id``): the question is answered, and its
        open gap too once none of its questions is weak. The gap's id when it turned answered."""
        row = self.db.execute("SELECT gap_id FROM gap_questions WHERE key = ?", (question_key(question),)).fetchone()
        if row is None:
            return None
        with self.catalog.transaction() as db:
            db.execute("UPDATE gap_questions SET weak = 0 WHERE key = ?", (question_key(question),))
            closed = db.execute(
                "UPDATE gaps SET status = 'answered', answered_how = 'search', answer_lesson_id = ?, closed_by_id = NULL,"
                " closed_at = ? WHERE id = ? AND status = 'open'"
                " AND NOT EXISTS (SELECT 1 FROM gap_questions q WHERE q.gap_id = gaps.id AND q.weak = 1)",
                (lesson_id, utc_now(), row["gap_id"]),
            ).rowcount
        return int(row["gap_id"]) if closed else None

    def vouches_for(self, lesson_id: str) -> bool:
        """Whether the lesson's document holds the answer of an answered gap: the team keeps it on purpose, whatever
        its subject (search/searcher.py trusts it then)."""
        row = self.db.execute(
            "SELECT 1 FROM gaps g JOIN lessons answer ON answer.id = g.answer_lesson_id"
            " JOIN lessons lesson ON lesson.document_id = answer.document_id"
            " WHERE g.status = 'answered' AND lesson.id = ? LIMIT 1",
            (lesson_id,),
        ).fetchone()
        return row is not None

    def open_questions(self, limit: int) -> list[str]:
        """The weak questions of open gaps, most recently asked first: what a re-check searches again."""
        rows = self.db.execute(
            "SELECT q.question FROM gap_questions q JOIN gaps g ON g.id = q.gap_id"
            " WHERE g.status = 'open' AND q.weak = 1 ORDER BY q.last_asked DESC LIMIT ?",
            (limit,),
        )
        return [row["question"] for row in rows]

    def ungrouped_weak_queries(self, limit: int) -> list[tuple[int, str, str]]:
        """Weak searches logged outside the queue (before it existed, or by `kb search`): (log row id, question,
        when asked), oldest first."""
        rows = self.db.execute(
            "SELECT id, query, created_at FROM query_log WHERE weak = 1 AND gap_id IS NULL AND query != '' ORDER BY id LIMIT ?",
            (limit,),
        )
        return [(int(row["id"]), row["query"], row["created_at"]) for row in rows]

    def link_logged(self, log_id: int, gap_id: int) -> None:
        self.db.execute("UPDATE query_log SET gap_id = ? WHERE id = ?", (gap_id, log_id))

    # --- what trainers read -------------------------------------------------------------------

    def list(self, status: GapStatus | None = "open", *, limit: int = 50, offset: int = 0) -> list[Gap]:
        """Gaps in ``status`` (None: all), most asked first, each with its most asked questions."""
        if status is not None and status not in GAP_STATUSES:
            raise BadFieldError("status", f"must be one of {', '.join(GAP_STATUSES)}")
        where = "WHERE g.status = ?" if status else ""
        rows = self.db.execute(
            f"{_GAP_ROWS} {where} GROUP BY g.id ORDER BY count DESC, last DESC LIMIT ? OFFSET ?",
            (*([status] if status else []), limit, offset),
        ).fetchall()
        return [self._gap(row) for row in rows]

    def get(self, gap_id: int) -> Gap:
        row = self.db.execute(f"{_GAP_ROWS} WHERE g.id = ? GROUP BY g.id", (gap_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no gap {gap_id}")
        return self._gap(row)

    def counts(self) -> dict[str, int]:
        found = dict(self.db.execute("SELECT status, count(*) FROM gaps GROUP BY status").fetchall())
        return {status: int(found.get(status, 0)) for status in GAP_STATUSES}

    def _gap(self, row) -> Gap:
        questions = self.db.execute(
            "SELECT q.question, q.asked, q.first_asked, q.last_asked, q.weak, u.name AS asked_by FROM gap_questions q"
            " LEFT JOIN users u ON u.id = q.last_user_id WHERE q.gap_id = ? ORDER BY q.asked DESC, q.last_asked DESC LIMIT ?",
            (row["id"], EXAMPLES),
        )
        return Gap(
            id=row["id"],
            status=row["status"],
            count=row["count"],
            first_asked=row["first"],
            last_asked=row["last"],
            created_at=row["created_at"],
            assignee=row["assignee"],
            answer_lesson_id=row["answer_lesson_id"],
            answered_how=row["answered_how"],
            closed_by=row["closer"],
            closed_at=row["closed_at"],
            questions=[GapQuestion(q["question"], q["asked"], q["first_asked"], q["last_asked"], bool(q["weak"]), q["asked_by"]) for q in questions],
        )

    # --- what trainers do ---------------------------------------------------------------------

    def assign(self, gap_id: int, assignee: str | None, user: User | None) -> Gap:
        """Give the gap to ``assignee`` (an account name; None or "": to nobody)."""
        _check_trainer(user)
        self.get(gap_id)
        assignee_id = None
        if assignee and assignee.strip():
            account = Accounts(self.catalog).get_user(assignee.strip())
            if account is None:
                raise BadFieldError("assignee", f"no account named {assignee.strip()!r}")
            assignee_id = account.id
        self.db.execute("UPDATE gaps SET assignee_id = ? WHERE id = ?", (assignee_id, gap_id))
        return self.get(gap_id)

    def answer(self, gap_id: int, lesson_id: str, user: User | None) -> Gap:
        """The gap is answered by ``lesson_id`` (a lesson written for it, or one that was there; its page's address
        will do)."""
        _check_trainer(user)
        self.get(gap_id)
        lesson_id = (lesson_id or "").strip().rsplit("/lessons/", 1)[-1].split("?")[0]
        if not lesson_id:
            raise BadFieldError("lesson_id", "name the lesson that answers the gap")
        if self.catalog.get_lesson(lesson_id) is None:
            raise BadFieldError("lesson_id", f"no lesson {lesson_id}")
        self._close(gap_id, "answered", user, lesson_id=lesson_id, how="lesson")
        return self.get(gap_id)

    def dismiss(self, gap_id: int, user: User | None) -> Gap:
        """Not a gap kb should fill (off-topic, a test): it leaves the queue, its questions still count under it."""
        _check_trainer(user)
        self.get(gap_id)
        self._close(gap_id, "dismissed", user)
        return self.get(gap_id)

    def reopen(self, gap_id: int, user: User | None) -> Gap:
        _check_trainer(user)
        self.get(gap_id)
        self._close(gap_id, "open", None)
        return self.get(gap_id)

    def _close(self, gap_id: int, status: GapStatus, user: User | None, *, lesson_id: str | None = None, how: str | None = None) -> None:
        """Put the gap in ``status``; an open gap has no answer and no closer."""
        closed = status != "open"
        self.db.execute(
            "UPDATE gaps SET status = ?, answer_lesson_id = ?, answered_how = ?, closed_by_id = ?, closed_at = ? WHERE id = ?",
            (status, lesson_id, how, user.id if user and closed else None, utc_now() if closed else None, gap_id),
        )


def _check_trainer(user: User | None) -> None:
    if user is not None and not user.can("trainer"):
        raise ForbiddenError("only trainers and admins work the gap queue")
