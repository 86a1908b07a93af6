"""Shared pieces of the web tests: a tiny corpus, an app on its own data dir, signing in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from kb.accounts import Accounts
from kb.settings import Settings
from web.app import create_app

PASSWORD = "correct-horse-battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')

# Twelve short playbook lessons (enough for a second page of results) and one with raw HTML in its text.
PLAYBOOK = """---
title: 新人销售打法
author: 王五
---
# 新人销售打法

## 找到并培养教练

教练是客户内部愿意给你提供信息、指导你怎么赢的人。培养教练要先给价值再要信息，并且保护教练的身份。

## 投标前先看评标办法

投标之前先拿到评标办法，弄清楚技术分和商务分的权重，再决定报价策略。

## 先画决策链

接手大客户的第一周，先把决策链画出来：谁提需求、谁管预算、谁拍板。

## 需求要书面确认

现场调研之后，把客户的真实需求写成纪要，请客户确认，避免后期扯皮。

## 回款从合同开始

签合同时就要关注付款节点和验收标准，回款难的根源往往在合同阶段。

## 铁三角例会

客户经理、解决方案专家和交付经理每周开一次例会，同步信息和风险。

## 高层拜访要有准备

高层拜访前准备行业标杆案例，讲业务价值，不讲产品参数。

## 方案呈现讲客户的问题

方案呈现时先讲客户的问题和目标，再讲我们的方案如何解决。

## 价格异议先认同

客户说太贵了，先认同感受，再澄清真正的顾虑，最后用价值回应。

## 竞争对手分析

了解竞争对手的优势和客户关系，找到我们的差异化。

## 销售漏斗每周更新

每周更新销售漏斗，只有预算和决策时间都确认的商机才能算作承诺。

## 原始 HTML 不会执行

这段文字里有 <script>alert('body')</script> 和 <b>粗体标签</b>，页面上应该原样显示为文字。
"""

REVIEW = """---
kind: review
title: 某医院集团门户项目丢单复盘
outcome: loss
customer: "<script>alert(1)</script> 医院集团"
industry: healthcare
region: 华东
deal_size: 1200000
currency: CNY
competitors: [竞品甲, 竞品乙]
stage: negotiation
date: 2025-11-02
author: 李四
---
# 某医院集团门户项目丢单复盘

## 经验教训

- 不要在没有交换条件的情况下给折扣，每一次让价都要换回更长的合同期或更快的签约。
- 投标前要弄清楚现有供应商的捆绑优势。
"""

REVIEW_EN = """---
kind: review
title: Retail Chain Loyalty Platform Win Review
outcome: win
customer: A retail chain in South China
industry: retail
deal_size: 800000
currency: USD
date: 2026-01-20
author: Alice Wong
---
# Retail Chain Loyalty Platform Win Review

## Lessons learned

- Never give a discount without a trade: every price concession must buy a longer term or a faster signature.
- A paid pilot with written success criteria turned the evaluation into a formality.
"""


def write_corpus(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "新人销售打法.md").write_text(PLAYBOOK, encoding="utf-8")
    (directory / "hospital-review.md").write_text(REVIEW, encoding="utf-8")
    (directory / "retail-review.md").write_text(REVIEW_EN, encoding="utf-8")
    return directory


DEFAULT_USERS = (("trainer1", "trainer"), ("rep1", "rep"), ("reader1", "reader"))


@contextmanager
def kb_client(settings: Settings, corpus: Path | None = None, users: tuple[tuple[str, str], ...] = DEFAULT_USERS) -> Iterator[TestClient]:
    """A test client whose lifespan has run; the corpus (if any) ingested with the real engine,
    and the given (name, role) accounts created, all with PASSWORD."""
    app = create_app(settings)
    with TestClient(app) as client:
        workspace = app.state.workspace
        if corpus is not None:
            report = workspace.ingestor.ingest([corpus])
            assert not report.failed, report.failed
        accounts = Accounts(workspace.catalog)
        for name, role in users:
            accounts.add_user(name, role, PASSWORD)
        yield client


@contextmanager
def app_with(root: Path, corpus: dict[str, str], users: tuple[tuple[str, str], ...]) -> Iterator:
    """kb_client's app, for a corpus given as file name → text."""
    corpus_dir = root / "corpus"
    corpus_dir.mkdir()
    for name, text in corpus.items():
        (corpus_dir / name).write_text(text, encoding="utf-8")
    with kb_client(Settings(data_dir=root / "data"), corpus_dir, users) as client:
        yield client.app


def csrf_in(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = CSRF_RE.search(html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    """The session's CSRF token, as the page at ``path`` carries it in its forms."""
    return csrf_in(client.get(path).text)


def signed_in(app, name: str, password: str = PASSWORD) -> TestClient:
    """A client of its own (its own cookie jar) on ``app``, signed in as ``name`` through the login form."""
    client = TestClient(app)
    sign_in(client, name, password)
    return client


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the new session's CSRF token for later form posts."""
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": csrf_of(client)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client, "/documents")


def other_client(client: TestClient) -> TestClient:
    """A second browser (its own cookies) on the same running app."""
    return TestClient(client.app)


def bearer(client_or_app, name: str) -> dict[str, str]:
    app = getattr(client_or_app, "app", client_or_app)
    token = Accounts(app.state.workspace.catalog).create_token(name, "tests")
    return {"Authorization": f"Bearer {token}"}
