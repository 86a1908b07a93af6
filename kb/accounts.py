"""User accounts, roles, password hashes (salted scrypt) and API tokens, stored in the catalog."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from kb.catalog import Catalog, utc_now
from kb.errors import BadFieldError, NotFoundError

ROLES = ("reader", "rep", "trainer", "admin")
# scrypt cost: 16 MiB of memory and ~50 ms per hash on the reference machine.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_CHARS = 8
_NAME_RE = re.compile(r"^[\w.@-]{2,64}$")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Accounts:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @property
    def db(self):
        return self.catalog.db

    def add_user(self, name: str, role: str, password: str) -> User:
        if not _NAME_RE.match(name or ""):
            raise BadFieldError("name", "use 2–64 letters, digits, '.', '_', '-' or '@'")
        if role not in ROLES:
            raise BadFieldError("role", f"must be one of {', '.join(ROLES)}")
        if len(password or "") < MIN_PASSWORD_CHARS:
            raise BadFieldError("password", f"must have at least {MIN_PASSWORD_CHARS} characters")
        if self.get_user(name):
            raise BadFieldError("name", f"a user named {name!r} already exists")
        with self.catalog.transaction():
            cursor = self.db.execute(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, role, hash_password(password), utc_now()),
            )
        return User(int(cursor.lastrowid), name, role)

    def get_user(self, name: str) -> User | None:
        row = self.db.execute("SELECT id, name, role FROM users WHERE name = ?", (name,)).fetchone()
        return User(row["id"], row["name"], row["role"]) if row else None

    def user_by_id(self, user_id: int) -> User | None:
        row = self.db.execute("SELECT id, name, role FROM users WHERE id = ?", (user_id,)).fetchone()
        return User(row["id"], row["name"], row["role"]) if row else None

    def list_users(self) -> list[User]:
        return [User(r["id"], r["name"], r["role"]) for r in self.db.execute("SELECT id, name, role FROM users ORDER BY name")]

    def set_role(self, name: str, role: str) -> User:
        if role not in ROLES:
            raise BadFieldError("role", f"must be one of {', '.join(ROLES)}")
        user = self.get_user(name)
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        with self.catalog.transaction():
            self.db.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
        return User(user.id, user.name, role)

    def authenticate(self, name: str, password: str) -> User | None:
        row = self.db.execute("SELECT id, name, role, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            verify_password(password, hash_password("timing-equaliser"))  # same cost whether or not the user exists
            return None
        return User(row["id"], row["name"], row["role"]) if verify_password(password, row["password_hash"]) else None

    def create_token(self, name: str, label: str = "") -> str:
        """A new bearer token for the user; only its hash is stored, so it is shown once."""
        user = self.get_user(name)
        if user is None:
            raise NotFoundError(f"no user named {name!r}")
        token = "kb_" + secrets.token_urlsafe(32)
        with self.catalog.transaction():
            self.db.execute(
                "INSERT INTO api_tokens (token_hash, user_id, label, created_at) VALUES (?, ?, ?, ?)",
                (_token_hash(token), user.id, label, utc_now()),
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        row = self.db.execute(
            "SELECT u.id, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (_token_hash(token),),
        ).fetchone()
        return User(row["id"], row["name"], row["role"]) if row else None
