"""The lesson lifecycle: who answers for a lesson, until when it is trusted, and who may change that.

Every lesson has an owner (an account, or nobody) and a verify-by day. A lesson is *unverified* from the day it
is written (or its text changes) until someone verifies it, *verified* after, *stale* once its verify-by day has
passed, *to re-check* when a newer lesson says nearly the same, and *archived* when it is taken out of search
(kept, and restorable). The state is derived from these dates when the catalog reads a lesson; only the dates,
the owner and the verifier are stored (kb/catalog.py, migration ``i23_lesson_lifecycle``).

Who may: the owner, or a trainer or admin, verifies, archives and restores a lesson; only trainers and admins give
it another owner or verify-by day. ``user=None`` is the command line, which answers to whoever may write the data dir.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from kb.accounts import Accounts, User
from kb.catalog import Catalog, utc_today
from kb.domain import Lesson, Lifecycle
from kb.errors import BadFieldError, ForbiddenError, NotFoundError
from kb.settings import Settings
from kb.validation import iso_date, text_field

MAX_NAME_CHARS = 64
# The farthest a due queue looks ahead.
MAX_WITHIN_DAYS = 3650


def next_verify_by(settings: Settings, kind: str, today: date | None = None) -> str:
    """The verify-by day of a lesson of this kind written or verified today."""
    return ((today or utc_today()) + timedelta(days=settings.verify_days_for(kind))).isoformat()


def fresh_lifecycle(settings: Settings, kind: str, owner: str | None) -> Lifecycle:
    """The state of a lesson just written: owned by ``owner``, unverified, in date for KB_VERIFY_DAYS."""
    return Lifecycle(owner=owner, verify_by=next_verify_by(settings, kind))


def owns(user: User, lesson: Lesson) -> bool:
    owner = lesson.lifecycle.owner
    return owner is not None and owner.casefold() == user.name.casefold()  # account names ignore case


def may_verify(user: User | None, lesson: Lesson) -> bool:
    """The owner, trainers and admins verify, archive and restore a lesson."""
    return user is None or user.can("trainer") or owns(user, lesson)


def may_reassign(user: User | None) -> bool:
    """Trainers and admins give a lesson another owner or verify-by day."""
    return user is None or user.can("trainer")


class LessonLifecycle:
    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings

    def get(self, lesson_id: str) -> Lesson:
        lesson = self.catalog.get_lesson(lesson_id)
        if lesson is None:
            raise NotFoundError(f"no lesson {lesson_id}")
        return lesson

    def verify(self, lesson_id: str, user: User | None) -> Lesson:
        """``user`` checked the lesson today: it is verified, in date for KB_VERIFY_DAYS more, not to re-check."""
        lesson = self.get(lesson_id)
        if not may_verify(user, lesson):
            raise ForbiddenError("only the lesson's owner, a trainer or an admin may verify it")
        self.catalog.verify_lesson(lesson.id, by=user.name if user else None, verify_by=next_verify_by(self.settings, lesson.kind))
        return self.get(lesson.id)

    def set_archived(self, lesson_id: str, user: User | None, archived: bool) -> Lesson:
        """Take the lesson out of search (kept, restorable), or bring it back."""
        lesson = self.get(lesson_id)
        if not may_verify(user, lesson):
            raise ForbiddenError("only the lesson's owner, a trainer or an admin may archive or restore it")
        self.catalog.set_lifecycle(lesson.id, archived=archived)
        return self.get(lesson.id)

    def update(self, lesson_id: str, user: User | None, changes: dict[str, Any]) -> Lesson:
        """Apply ``changes`` of ``owner`` (an account name, or None for nobody), ``verify_by`` (YYYY-MM-DD) and
        ``archived`` (true or false): only trainers and admins, every value checked before anything changes."""
        lesson = self.get(lesson_id)
        if not may_reassign(user):
            raise ForbiddenError("only trainers and admins may change a lesson's owner, verify-by date or archive")
        unknown = sorted(set(changes) - {"owner", "verify_by", "archived"})
        if unknown:
            raise BadFieldError(unknown[0], "is not a field of a lesson's lifecycle (owner, verify_by, archived)", code="unknown_field")
        if not changes:
            raise BadFieldError("request", "give at least one of owner, verify_by, archived", code="nothing_to_change")
        owner = self._owner(changes["owner"]) if "owner" in changes else None
        verify_by = iso_date("verify_by", changes["verify_by"]) if "verify_by" in changes else None
        if "verify_by" in changes and not verify_by:
            raise BadFieldError("verify_by", "use the form YYYY-MM-DD", code="date_format")
        archived = changes.get("archived")
        if "archived" in changes and not isinstance(archived, bool):
            raise BadFieldError("archived", "must be true or false", code="not_boolean")
        self.catalog.set_lifecycle(
            lesson.id, owner=owner, clear_owner="owner" in changes and owner is None, verify_by=verify_by, archived=archived
        )
        return self.get(lesson.id)

    def _owner(self, value: Any) -> str | None:
        """The account a name gives (None or blank: nobody); an unknown name is refused."""
        name = text_field("owner", value, MAX_NAME_CHARS)
        if not name:
            return None
        account = Accounts(self.catalog).get_user(name)
        if account is None:
            raise BadFieldError("owner", f"no account named {name}", code="unknown_account")
        return account.name

    def queue(
        self,
        user: User | None,
        *,
        due: bool = True,
        within_days: int = 0,
        owner: str | None = None,
        unowned: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Lesson]:
        """The lessons in ``user``'s care by owner, oldest verify-by first; with ``due``, only those in search whose
        verify-by day is at most ``within_days`` away (or past), or that are to be re-checked. Trainers and admins
        see everyone's (``owner``/``unowned`` narrow it), others only their own."""
        if not 0 <= within_days <= MAX_WITHIN_DAYS:
            raise BadFieldError("within", f"must be an integer from 0 to {MAX_WITHIN_DAYS}", code="integer_range", low=0, high=MAX_WITHIN_DAYS)
        if owner is not None:
            owner = text_field("owner", owner, MAX_NAME_CHARS) or None
        if user is not None and not user.can("trainer"):
            if unowned or (owner is not None and owner.casefold() != user.name.casefold()):
                raise ForbiddenError("only trainers and admins see other people's lessons to verify")
            owner = user.name
        due_by = (utc_today() + timedelta(days=within_days)).isoformat() if due else None
        return self.catalog.owned_lessons(due_by=due_by, owner=owner, unowned=unowned, limit=limit, offset=offset)


def lesson_json(lesson: Lesson) -> dict[str, Any]:
    """A lesson with its lifecycle, as `GET /api/lessons` and `kb lessons --jsonl` give it."""
    return {
        "id": lesson.id,
        "title": lesson.title,
        "body": lesson.body,
        "source": lesson.source,
        "heading_path": list(lesson.heading_path),
        "tags": lesson.tags,
        "kind": lesson.kind,
        "document_id": lesson.document_id,
        **lesson.lifecycle.to_json(),
    }
