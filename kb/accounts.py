"""User accounts, roles, password hashes (salted scrypt), API tokens and sign-in sessions, stored in the catalog."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache

from kb.catalog import Catalog, utc_now
from kb.domain import ROLES
from kb.errors import BadFieldError, NotFoundError
from kb.validation import record_id

# scrypt cost: 16 MiB of memory and ~50 ms per hash on the reference machine.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 200
# A session's last-seen time is written at most this often: a page view should not always be a write.
SESSION_TOUCH_S = 60
_NAME_RE = re.compile(r"^[\w.@-]{2,64}$")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    disabled: bool = False

    def can(self, role: str) -> bool:
        """True when this user's role is at least ``role`` (reader < rep < trainer < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encode = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt)}${encode(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


@cache
def _dummy_hash() -> str:
    """A hash no password matches, checked for unknown names so they cost what a wrong password costs."""
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of an API token: never the secret, which only its holder has."""

    id: int
    user: str
    label: str
    created_at: str
    last_used_at: str | None

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "user": self.user, "label": self.label, "created_at": self.created_at, "last_used_at": self.last_used_at}


_USER_COLUMNS = "u.id, u.name, u.role, u.disabled_at"


def _user(row) -> User:
    return User(row["id"], row["name"], row["role"], row["disabled_at"] is not None)


def _check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_CHARS:
        raise BadFieldError("password", f"must have at least {MIN_PASSWORD_CHARS} characters", code="password_too_short", n=MIN_PASSWORD_CHARS)
    if len(password) > MAX_PASSWORD_CHARS:
        raise BadFieldError("password", f"must have at most {MAX_PASSWORD_CHARS} characters", code="too_long", n=MAX_PASSWORD_CHARS)
    return password


class Accounts:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @property
    def db(self):
        return self.catalog.db

    def add_user(self, name: str, role: str, password: str) -> User:
        if not _NAME_RE.match(name or ""):
            raise BadFieldError("name", "use 2–64 letters, digits, '.', '_', '-' or '@'", code="user_name")
        if role not in ROLES:
            raise BadFieldError("role", f"must be one of {', '.join(ROLES)}", code="choose_role")
        _check_password(password)
        if self.get_user(name):
            raise BadFieldError("name", f"a user named {name!r} already exists", code="user_exists", name=name)
        with self.catalog.transaction():
            cursor = self.db.execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role, hash_password(password), utc_now()),
            )
        return User(int(cursor.lastrowid), name, role)

    def get_user(self, name: str) -> User | None:
        row = self.db.execute(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.name = ?", (name,)).fetchone()
        return _user(row) if row else None

    def _existing(self, name: str) -> User:
        user = self.get_user(name)
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        return user

    def list_users(self) -> list[User]:
        return [_user(r) for r in self.db.execute(f"SELECT {_USER_COLUMNS} FROM users u ORDER BY u.name")]

    def set_role(self, name: str, role: str) -> User:
        if role not in ROLES:
            raise BadFieldError("role", f"must be one of {', '.join(ROLES)}", code="choose_role")
        user = self._existing(name)
        with self.catalog.transaction():
            self.db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        return User(user.id, user.name, role, user.disabled)

    def set_password(self, name: str, password: str) -> None:
        """A new password; every session of the user ends (tokens stay: they are revoked one by one)."""
        user = self._existing(name)
        digest = hash_password(_check_password(password))
        with self.catalog.transaction():
            self.db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (digest, user.id))
            self.db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable (sessions end, tokens and sign-in answer 401) or enable an account."""
        user = self._existing(name)
        with self.catalog.transaction():
            self.db.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (utc_now() if disabled else None, user.id))
            if disabled:
                self.db.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
        return User(user.id, user.name, user.role, disabled)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user whose name and password these are, unless disabled; the same cost whether or not the name exists."""
        row = self.db.execute(f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = ?", (name,)).fetchone()
        matches = verify_password(password, row["password_hash"] if row else _dummy_hash())
        return _user(row) if row and matches and row["disabled_at"] is None else None

    # --- API tokens ---------------------------------------------------------------------

    def create_token(self, name: str, label: str = "") -> str:
        """A new bearer token for the user; only its hash is stored, so it is shown once."""
        user = self._existing(name)
        token = "kb_" + secrets.token_urlsafe(32)
        with self.catalog.transaction():
            self.db.execute(
                "INSERT INTO api_tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                (_token_hash(token), user.id, label, utc_now()),
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        """The enabled user of a token (noting when it was last used), or None."""
        digest = _token_hash(token)
        row = self.db.execute(
            f"SELECT {_USER_COLUMNS}, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE t.token_hash = ? AND u.disabled_at IS NULL",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        if _older_than(row["last_used_at"], SESSION_TOUCH_S):
            self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ?", (utc_now(), digest))
        return _user(row)

    def list_tokens(self, name: str | None = None) -> list[TokenInfo]:
        where, params = ("WHERE u.name = ?", [self._existing(name).name]) if name else ("", [])
        rows = self.db.execute(
            f"SELECT t.rowid AS id, u.name, t.label, t.created_at, t.last_used_at FROM api_tokens t "
            f"JOIN users u ON u.id = t.user_id {where} ORDER BY t.rowid",
            params,
        )
        return [TokenInfo(r["id"], r["name"], r["label"], r["created_at"], r["last_used_at"]) for r in rows]

    def revoke_token(self, token_id: int | str) -> None:
        with self.catalog.transaction():
            deleted = self.db.execute("DELETE FROM api_tokens WHERE rowid = ?", (record_id(token_id, "token"),)).rowcount
        if not deleted:
            raise NotFoundError(f"no token {token_id}")

    # --- sign-in sessions ---------------------------------------------------------------

    def start_session(self, user: User) -> str:
        """A new session id for the user's cookie; the catalog keeps only its hash."""
        session_id = secrets.token_urlsafe(32)
        now = utc_now()
        with self.catalog.transaction():
            self.db.execute(
                "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
                (_token_hash(session_id), user.id, now, now),
            )
        return session_id

    def user_for_session(self, session_id: str, idle_seconds: int) -> User | None:
        """The enabled user of a live session; a session idle longer than ``idle_seconds`` ends."""
        digest = _token_hash(session_id)
        row = self.db.execute(
            f"SELECT {_USER_COLUMNS}, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id_hash = ? AND u.disabled_at IS NULL",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        if _older_than(row["last_seen_at"], idle_seconds):
            self.end_session(session_id)
            return None
        if _older_than(row["last_seen_at"], SESSION_TOUCH_S):
            self.db.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", (utc_now(), digest))
        return _user(row)

    def end_session(self, session_id: str) -> None:
        self.db.execute("DELETE FROM sessions WHERE id_hash = ?", (_token_hash(session_id),))


def _older_than(timestamp: str | None, seconds: int) -> bool:
    if not timestamp:
        return True
    return datetime.now(timezone.utc) - datetime.fromisoformat(timestamp) > timedelta(seconds=seconds)
