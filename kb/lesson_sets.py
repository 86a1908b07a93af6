"""Lesson sets: ordered, annotated lists of lessons that trainers curate for onboarding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from kb.catalog import Catalog, utc_now
from kb.domain import Lesson
from kb.errors import BadFieldError, NotFoundError
from kb.validation import label, record_id, text_field

MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 2000


@dataclass
class SetItem:
    lesson_id: str
    position: int
    note: str
    lesson: Lesson | None = None  # None when the lesson no longer exists


@dataclass
class LessonSet:
    id: int
    title: str
    audience: str
    description: str
    owner_id: int | None
    created_at: str
    updated_at: str
    items: list[SetItem] = field(default_factory=list)
    item_count: int = 0

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "audience": self.audience,
            "description": self.description,
            "owner_id": self.owner_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "item_count": self.item_count,
            "items": [
                {
                    "lesson_id": item.lesson_id,
                    "position": item.position,
                    "note": item.note,
                    "title": item.lesson.title if item.lesson else None,
                }
                for item in self.items
            ],
        }


class LessonSets:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @property
    def db(self):
        return self.catalog.db

    def create(self, title: str, audience: str = "", description: str = "", owner_id: int | None = None) -> LessonSet:
        title = label("title", title, MAX_TITLE_CHARS, required=True)
        audience = text_field("audience", audience, MAX_TITLE_CHARS)
        description = text_field("description", description, MAX_TEXT_CHARS)
        now = utc_now()
        with self.catalog.transaction():
            cursor = self.db.execute(
                "INSERT INTO lesson_sets (title, audience, description, owner_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (title, audience, description, owner_id, now, now),
            )
        return self.get(int(cursor.lastrowid))

    def list(self) -> list[LessonSet]:
        rows = self.db.execute("SELECT * FROM lesson_sets ORDER BY updated_at DESC, id DESC").fetchall()
        sets = [_set(r) for r in rows]
        counts = dict(self.db.execute("SELECT set_id, count(*) FROM lesson_set_items GROUP BY set_id").fetchall())
        for lesson_set in sets:
            lesson_set.item_count = counts.get(lesson_set.id, 0)
        return sets

    def get(self, set_id: int) -> LessonSet:
        set_id = record_id(set_id, "lesson set")
        row = self.db.execute("SELECT * FROM lesson_sets WHERE id = ?", (set_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no lesson set {set_id}")
        lesson_set = _set(row)
        items = self.db.execute(
            "SELECT lesson_id, position, note FROM lesson_set_items WHERE set_id = ? ORDER BY position", (set_id,)
        ).fetchall()
        lessons = self.catalog.get_lessons([r["lesson_id"] for r in items])
        lesson_set.items = [SetItem(r["lesson_id"], r["position"], r["note"], lessons.get(r["lesson_id"])) for r in items]
        lesson_set.item_count = len(lesson_set.items)
        return lesson_set

    def update(self, set_id: int, *, title: str | None = None, audience: str | None = None, description: str | None = None) -> LessonSet:
        current = self.get(set_id)
        values = (
            label("title", current.title if title is None else title, MAX_TITLE_CHARS, required=True),
            text_field("audience", current.audience if audience is None else audience, MAX_TITLE_CHARS),
            text_field("description", current.description if description is None else description, MAX_TEXT_CHARS),
        )
        with self.catalog.transaction():
            self.db.execute(
                "UPDATE lesson_sets SET title = ?, audience = ?, description = ?, updated_at = ? WHERE id = ?",
                (*values, utc_now(), set_id),
            )
        return self.get(set_id)

    def delete(self, set_id: int) -> None:
        self.get(set_id)
        with self.catalog.transaction():
            self.db.execute("DELETE FROM lesson_sets WHERE id = ?", (set_id,))

    def add_lesson(self, set_id: int, lesson_id: str, note: str = "") -> LessonSet:
        lesson_set = self.get(set_id)
        if self.catalog.get_lesson(lesson_id) is None:
            raise BadFieldError("lesson_id", f"no lesson {lesson_id}", code="no_lesson")
        note = text_field("note", note, MAX_TEXT_CHARS)
        if any(item.lesson_id == lesson_id for item in lesson_set.items):
            return lesson_set
        with self.catalog.transaction():
            self.db.execute(
                "INSERT INTO lesson_set_items (set_id, lesson_id, position, note) VALUES (?, ?, ?, ?)",
                (set_id, lesson_id, len(lesson_set.items), note),
            )
            self._touch(set_id)
        return self.get(set_id)

    def remove_lesson(self, set_id: int, lesson_id: str) -> LessonSet:
        remaining = [item.lesson_id for item in self.get(set_id).items if item.lesson_id != lesson_id]
        with self.catalog.transaction():
            self.db.execute("DELETE FROM lesson_set_items WHERE set_id = ? AND lesson_id = ?", (set_id, lesson_id))
            self._renumber(set_id, remaining)
        return self.get(set_id)

    def reorder(self, set_id: int, lesson_ids: Sequence[str]) -> LessonSet:
        """Put the set's lessons in the given order; the list must name each lesson of the set once."""
        current = [item.lesson_id for item in self.get(set_id).items]
        if sorted(current) != sorted(lesson_ids):
            raise BadFieldError("lesson_ids", "must list every lesson of the set exactly once", code="set_order")
        with self.catalog.transaction():
            self._renumber(set_id, list(lesson_ids))
        return self.get(set_id)

    def move(self, set_id: int, lesson_id: str, offset: int) -> LessonSet:
        """Move one lesson up (offset -1) or down (+1): the no-JavaScript way to reorder."""
        order = [item.lesson_id for item in self.get(set_id).items]
        if lesson_id not in order:
            raise BadFieldError("lesson_id", f"lesson {lesson_id} is not in this set", code="not_in_set")
        index = order.index(lesson_id)
        target = max(0, min(len(order) - 1, index + offset))
        order.insert(target, order.pop(index))
        return self.reorder(set_id, order)

    def set_note(self, set_id: int, lesson_id: str, note: str) -> LessonSet:
        set_id = record_id(set_id, "lesson set")
        note = text_field("note", note, MAX_TEXT_CHARS)
        with self.catalog.transaction():
            updated = self.db.execute(
                "UPDATE lesson_set_items SET note = ? WHERE set_id = ? AND lesson_id = ?", (note, set_id, lesson_id)
            ).rowcount
            if not updated:
                raise BadFieldError("lesson_id", f"lesson {lesson_id} is not in set {set_id}", code="not_in_set")
            self._touch(set_id)
        return self.get(set_id)

    def _renumber(self, set_id: int, order: list[str]) -> None:
        for position, lesson_id in enumerate(order):
            self.db.execute(
                "UPDATE lesson_set_items SET position = ? WHERE set_id = ? AND lesson_id = ?", (position, set_id, lesson_id)
            )
        self._touch(set_id)

    def _touch(self, set_id: int) -> None:
        self.db.execute("UPDATE lesson_sets SET updated_at = ? WHERE id = ?", (utc_now(), set_id))


def export_markdown(lesson_set: LessonSet, sources: dict[str, str] | None = None) -> str:
    """The set as one Markdown document: title, audience, description, then each lesson with its note.

    ``sources`` names each document (``document_labels``); a lesson of an unnamed one shows its file name."""
    sources = sources or {}
    lines = [f"# {lesson_set.title}", ""]
    if lesson_set.audience:
        lines += [f"*{lesson_set.audience}*", ""]
    if lesson_set.description:
        lines += [lesson_set.description, ""]
    for number, item in enumerate(lesson_set.items, start=1):
        if item.lesson is None:
            lines += [f"## {number}. ({item.lesson_id})", "", "_This lesson is no longer in the knowledge base._", ""]
            continue
        lines += [f"## {number}. {item.lesson.title}", ""]
        if item.note:
            lines += [f"> {item.note}", ""]
        source = sources.get(item.lesson.document_id, item.lesson.source)
        lines += [item.lesson.body, "", f"<sub>{source} · {' › '.join(item.lesson.heading_path)}</sub>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _set(row) -> LessonSet:
    return LessonSet(
        id=row["id"],
        title=row["title"],
        audience=row["audience"],
        description=row["description"],
        owner_id=row["owner_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
