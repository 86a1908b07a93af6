"""The wheel is the product: built from the checkout, installed apart from it, run from another directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from conftest import REPO_ROOT
from live_server import free_port

pytestmark = pytest.mark.slow

PACKAGE_DATA = ("web/templates", "web/static", "web/locale", "kb/defaults")

NOTE = """\
# 铁三角协同手册

## 提前摸清预算
客户的预算要在第一次拜访时问清楚，否则后面的方案会偏离客户能接受的范围。
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the files a clone would hold (tracked and new, not ignored), copied out of the checkout."""
    root = tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode()
    source = root / "source"
    for name in filter(None, listed.split("\0")):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    # No build isolation: the venv's setuptools builds it, so the test needs no network.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", str(source), "-w", str(root / "dist")],
        check=True,
        capture_output=True,
    )
    (built,) = (root / "dist").glob("kb-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("target")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True)
    return target


def test_the_wheel_holds_the_templates_static_files_and_defaults(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(REPO_ROOT)) for folder in PACKAGE_DATA for p in (REPO_ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert {"kb/defaults/taxonomy.yaml", "kb/defaults/glossary.yaml", "web/static/style.css", "web/templates/base.html"} <= expected
    assert {"web/locale/zh/LC_MESSAGES/messages.po", "web/locale/en/LC_MESSAGES/messages.po"} <= expected
    assert expected <= names


def test_the_installed_wheel_ingests_and_serves_from_another_directory(installed: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("KB_")}
    env["PYTHONPATH"] = str(installed)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (workdir / "note.md").write_text(NOTE, encoding="utf-8")
    kb = [str(installed / "bin" / "kb")]

    where = subprocess.run([sys.executable, "-c", "import kb, web; print(kb.__file__); print(web.__file__)"], cwd=workdir, env=env, capture_output=True, text=True, check=True)
    assert all(line.startswith(str(installed)) for line in where.stdout.split()), where.stdout  # not the checkout

    ingest = subprocess.run([*kb, "ingest", "note.md"], cwd=workdir, env=env, capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr
    assert "1 added" in ingest.stdout
    assert (workdir / "data" / "catalog.sqlite").is_file()

    port = free_port()
    server = subprocess.Popen([*kb, "serve", "--port", str(port)], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        page = _wait_for(f"{base}/?lang=en", server)
        assert page.status_code == 200
        assert 'role="search"' in page.text and 'name="q"' in page.text
        assert "Sales Lessons" in page.text  # the English catalog travelled in the wheel
        static = set(re.findall(r'(?:href|src)="([^"]*/static/[^"]+)"', page.text))
        assert static, "the page references no static file"
        for reference in static:
            assert httpx.get(urljoin(base + "/", reference), timeout=10).status_code == 200, reference
        results = httpx.get(f"{base}/", params={"q": "预算"}, timeout=60)
        assert results.status_code == 200 and "提前摸清预算" in results.text
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "Traceback" not in output, output


def _wait_for(url: str, server: subprocess.Popen) -> httpx.Response:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"kb serve exited with {server.returncode}: {server.stdout.read() if server.stdout else ''}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.HTTPError:
            time.sleep(0.5)
    raise AssertionError("kb serve did not answer within 120 s")
