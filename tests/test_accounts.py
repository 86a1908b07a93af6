"""Accounts: password hashing, roles, API tokens, and the `kb user` / `kb token` commands."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.accounts import Accounts, hash_password, verify_password
from kb.catalog import Catalog
from kb.cli import cli
from kb.errors import BadFieldError


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    return Accounts(Catalog(tmp_path / "catalog.sqlite"))


def test_password_hash_is_salted_scrypt_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$") and first != second  # a fresh salt each time
    assert verify_password("correct horse", first)
    assert not verify_password("wrong horse", first)
    assert not verify_password("correct horse", "not-a-hash")


def test_users_have_roles_in_order(accounts: Accounts):
    trainer = accounts.add_user("tina", "trainer", "long-enough-1")
    assert trainer.can("rep") and trainer.can("trainer") and not trainer.can("admin")
    assert accounts.authenticate("tina", "long-enough-1") == trainer
    assert accounts.authenticate("tina", "wrong-password") is None
    assert accounts.authenticate("nobody", "long-enough-1") is None
    assert accounts.set_role("tina", "admin").can("admin")


@pytest.mark.parametrize(
    ("name", "role", "password", "field"),
    [("x", "rep", "long-enough-1", "name"), ("../etc", "rep", "long-enough-1", "name"), ("rita", "boss", "long-enough-1", "role"), ("rita", "rep", "short", "password")],
)
def test_bad_account_fields_are_refused_by_name(accounts: Accounts, name, role, password, field):
    with pytest.raises(BadFieldError) as error:
        accounts.add_user(name, role, password)
    assert error.value.field == field


def test_duplicate_user_names_are_refused(accounts: Accounts):
    accounts.add_user("rita", "rep", "long-enough-1")
    with pytest.raises(BadFieldError):
        accounts.add_user("RITA", "rep", "long-enough-2")


def test_tokens_are_stored_as_hashes_and_identify_their_user(accounts: Accounts, tmp_path: Path):
    accounts.add_user("rita", "rep", "long-enough-1")
    token = accounts.create_token("rita", "laptop")
    assert accounts.user_for_token(token).name == "rita"
    assert accounts.user_for_token(token + "x") is None
    stored = [row[0] for row in sqlite3.connect(tmp_path / "catalog.sqlite").execute("SELECT token_hash FROM api_tokens")]
    assert stored and token not in stored


def test_cli_adds_users_with_a_password_from_stdin_and_issues_tokens(tmp_path: Path):
    runner = CliRunner()
    data = str(tmp_path / "data")
    added = runner.invoke(cli, ["--data-dir", data, "user", "add", "tom", "--role", "trainer"], input="tom-password-1\n")
    assert added.exit_code == 0, added.output
    assert "tom" in added.output and "trainer" in added.output
    listed = runner.invoke(cli, ["--data-dir", data, "user", "list"])
    assert "tom" in listed.output and "trainer" in listed.output
    issued = runner.invoke(cli, ["--data-dir", data, "token", "create", "tom"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    assert Accounts(Catalog(tmp_path / "data" / "catalog.sqlite")).user_for_token(token).name == "tom"


def test_cli_reports_bad_user_input_without_a_traceback(tmp_path: Path):
    runner = CliRunner()
    data = str(tmp_path / "data")
    short = runner.invoke(cli, ["--data-dir", data, "user", "add", "tom"], input="short\n")
    assert short.exit_code == 1
    assert "password" in short.output and "Traceback" not in short.output
    unknown = runner.invoke(cli, ["--data-dir", data, "token", "create", "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output
