"""A deterministic synthetic sales corpus of any size: win/loss reviews and playbook sections from templates.

Words come from a small hand-written sales vocabulary plus tens of thousands of generated terms (company,
product and person names, Chinese compounds, English coinages), drawn with a Zipf distribution so that a
few terms are everywhere and most are rare, as in a real base. Nothing is taken from real documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

INDUSTRIES = ("金融", "制造", "医疗", "政府", "零售", "能源", "电信", "教育", "物流", "汽车")
INDUSTRIES_EN = ("finance", "manufacturing", "healthcare", "government", "retail", "energy", "telecom")
OUTCOMES = ("win", "loss", "no-decision")
REGIONS = ("华东", "华南", "华北", "西南", "西北", "东北", "华中")
ROLES = ("信息中心主任", "采购经理", "财务总监", "分管副总", "业务部门负责人", "CIO", "项目经理", "董事长")
PRODUCTS = ("CRM", "ERP", "MES", "数据中台", "云平台", "供应链系统", "信贷系统", "运维平台", "BI", "安全网关")
STAGES = ("线索", "需求", "方案", "商务", "招标", "签约")
SALES_WORDS = (
    "预算 决策链 招标 报价 折扣 回款 续约 商机 漏斗 关系 高层 拜访 演示 试点 验收 交付 竞争 价格 方案 需求 痛点 "
    "价值 投资回报 立项 评审 采购 合同 条款 风险 承诺 里程碑 实施 运维 服务 口碑 标杆 案例 客户成功 技术交流 "
    "商务谈判 利润 毛利 现金流 付款 保证金 资质 评分 废标 串标 控标 陪标 内线 教练 对手 差异化 卡位 先发 "
    "节奏 复盘 教训 经验 团队 铁三角 售前 售后 交付经理 客户经理 老板 授权 审批 流程 数据 集成 迁移 上线"
).split()
ENGLISH_WORDS = (
    "budget champion procurement discount renewal pipeline pilot demo executive sponsor pricing proposal "
    "requirement pain value ROI approval contract risk milestone delivery support reference competitor "
    "negotiation margin payment scoring tender evaluation stakeholder integration migration rollout"
).split()
# Characters Chinese compounds are made of: common enough that jieba keeps most pairs as words of their own.
HAN = (
    "安百宝北本必边标表别宾波博布部才财采参仓策层产昌长常场超车晨成诚城程驰充创春纯达大丹道德登迪点电定东动都"
    "度端多恩发帆方飞丰风峰服福富港高格工功共广贵国海航豪浩和合河恒红宏鸿华化环辉汇惠慧吉佳嘉坚建健江金锦进"
    "京晶精景久聚骏开凯康科可克快坤蓝朗乐雷力立联良亮林灵领龙隆路伦罗迈茂美蒙明铭宁诺鹏平普奇启千强桥勤青清"
    "庆秋全泉群仁荣瑞润森山尚盛胜诗石实世市仕书舒顺思斯松泰腾天通同拓万旺威微维伟文沃西希祥翔新信星兴雄秀旭"
    "轩雅亚扬阳耀业一易益逸银英盈永优友宇雨元源远跃云泽展湛长兆哲振正之志智中众洲卓资子紫"
)
SYLLABLES = "ka lo mi ta ne ro vi su pa de xo ri ba lu ze fo na ti go me sa qu ly ce ho".split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"

REVIEW_SECTIONS = (("项目背景", "背景"), ("做得好的", "做法"), ("做得不好的", "问题"), ("经验教训", "教训"))
PLAYBOOK_HEADINGS = ("如何{verb}{obj}", "{obj}的{n}个要点", "{role}关注什么", "{obj}常见误区")
VERBS = ("推进", "守住", "拿下", "评估", "呈现", "管理", "识别", "化解")
TEMPLATES = (
    "在{customer}的{product}项目里，{role}最关心的是{w1}和{w2}，我们在{stage}阶段{verb}了{w3}，{competitor}则用{w4}抢到了先机。",
    "{customer}这次{w1}的关键是{w2}：我们没有提前确认{w3}，导致{w4}被{competitor}拿走，{amount}万元的{product}项目停在{stage}阶段。",
    "教训是{verb}{w1}要趁早，{role}的{w2}必须落在纸面上；{w3}和{w4}要分开确认，每一个都可能让项目停下来。",
    "面对{competitor}的{w1}，我们用{w2}和{w3}讲{product}的价值，{role}最后认可了{w4}，项目以{amount}万元签约。",
    "{w1}、{w2}、{w3}三件事要同时推进，{role}在{stage}阶段最怕{w4}，提前准备{product}的{w5}能少走弯路。",
)
EN_TEMPLATES = (
    "At {customer} the {role} cared about {w1} and {w2}; {competitor} won the {w3} because we never confirmed {w4}.",
    "Lesson: secure {w1} before the {w2} stage, and put the {w3} of the {product} deal in writing with the {role}.",
    "We priced the {product} on {w1} and {w2}, while {competitor} offered {w3}; the {role} chose {w4} over {w5}.",
)


@dataclass(frozen=True)
class SyntheticFile:
    name: str
    text: str
    kind: str
    industry: str
    outcome: str | None


def _pick(rng: np.random.Generator, items):
    return items[int(rng.integers(len(items)))]


class Vocabulary:
    """Terms ranked by frequency, drawn with a Zipf distribution (exponent ``s``)."""

    def __init__(self, rng: np.random.Generator, size: int, *, english: bool = False, s: float = 1.05) -> None:
        terms: list[str] = list(ENGLISH_WORDS) if english else list(SALES_WORDS) + list(ENGLISH_WORDS)
        seen = set(terms)
        han, syllables, products = np.array(list(HAN)), np.array(SYLLABLES), np.array(PRODUCTS)
        while len(terms) < size:
            batch = 4 * (size - len(terms))
            picks = np.zeros(batch, dtype=int) if english else rng.integers(0, 4, batch)
            lengths, numbers = rng.integers(2, 4, batch), rng.integers(1, 9999, batch)
            chars, sylls, prods = rng.choice(han, (batch, 3)), rng.choice(syllables, (batch, 4)), rng.choice(products, batch)
            for i in range(batch):
                if picks[i] == 0:
                    term = "".join(sylls[i, : lengths[i] + english])
                elif picks[i] == 1:
                    term = f"{chars[i, 0]}{chars[i, 1]}{prods[i]}-{numbers[i]}"
                else:
                    term = "".join(chars[i, : lengths[i]])
                if term not in seen:
                    seen.add(term)
                    terms.append(term)
                    if len(terms) == size:
                        break
        self.terms = terms
        weights = 1.0 / np.arange(1, len(terms) + 1) ** s
        self._cdf = np.cumsum(weights / weights.sum())

    def draw(self, rng: np.random.Generator, n: int) -> list[str]:
        return [self.terms[i] for i in np.searchsorted(self._cdf, rng.random(n))]


class Corpus:
    """A seeded generator: the same seed and size give the same files, byte for byte."""

    def __init__(self, seed: int = 0, vocabulary_size: int = 40_000) -> None:
        self.seed = seed
        rng = np.random.default_rng(seed)
        self.vocabulary = Vocabulary(rng, vocabulary_size)
        self.english = Vocabulary(rng, vocabulary_size // 4, english=True)
        han = list(HAN)
        self.customers = [f"{_pick(rng, REGIONS)}{''.join(rng.choice(han, size=2))}{_pick(rng, ('集团', '银行', '医院', '股份', '控股', '局'))}" for _ in range(3000)]
        self.competitors = [f"{''.join(rng.choice(han, size=2))}{_pick(rng, ('科技', '软件', '信息', '云'))}" for _ in range(200)]
        self.people = [f"{_pick(rng, SURNAMES)}{''.join(rng.choice(han, size=2))}" for _ in range(500)]

    def files(self, chunks: int) -> Iterator[SyntheticFile]:
        """Files totalling about ``chunks`` chunks (one section paragraph is about one chunk)."""
        rng = np.random.default_rng(self.seed + 1)
        made, number = 0, 0
        while made < chunks:
            sections = int(rng.integers(6, 16))
            english = rng.random() < 0.15
            if rng.random() < 0.7:
                file = self._review(rng, number, sections, english)
            else:
                file = self._playbook(rng, number, sections, english)
            made += sections
            number += 1
            yield file

    def write(self, directory: Path, chunks: int) -> list[Path]:
        """Write the files under ``directory`` (reviews/ and playbooks/) and return their paths."""
        paths = []
        for file in self.files(chunks):
            path = directory / ("reviews" if file.kind == "review" else "playbooks") / file.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(file.text, encoding="utf-8")
            paths.append(path)
        return paths

    def queries(self, n: int) -> list[tuple[str, dict[str, str]]]:
        """A mixed query load: Chinese, English, traditional script, and a third with filters."""
        rng = np.random.default_rng(self.seed + 2)
        out: list[tuple[str, dict[str, str]]] = []
        for i in range(n):
            words = self.vocabulary.draw(rng, 3)
            style = i % 4
            if style == 0:
                query = f"{words[0]}和{words[1]}怎么{_pick(rng, VERBS)}"
            elif style == 1:
                query = f"how to handle {_pick(rng, ENGLISH_WORDS)} and {_pick(rng, ENGLISH_WORDS)} with the {_pick(rng, ROLES[-3:])}"
            elif style == 2:
                query = f"{_pick(rng, ('預算', '決策鏈', '競爭對手', '價格談判', '續約'))}被{_pick(rng, self.competitors)}搶走怎麼辦"
            else:
                query = f"{_pick(rng, self.customers)}{words[0]}{_pick(rng, SALES_WORDS)}"
            filters: dict[str, str] = {}
            if i % 3 == 2:
                filters = {"kind": "review", "outcome": str(_pick(rng, OUTCOMES)), "industry": str(_pick(rng, INDUSTRIES))}
            out.append((query, filters))
        return out

    def _slots(self, rng: np.random.Generator, english: bool, product: str, customer: str, competitor: str) -> dict[str, str]:
        words = (self.english if english else self.vocabulary).draw(rng, 5)
        return {
            "customer": customer,
            "product": product,
            "competitor": competitor,
            "role": str(_pick(rng, ROLES)),
            "stage": str(_pick(rng, STAGES)),
            "verb": str(_pick(rng, VERBS)),
            "amount": str(int(rng.integers(20, 5000))),
            **{f"w{i + 1}": w for i, w in enumerate(words)},
        }

    def _paragraph(self, rng: np.random.Generator, english: bool, **names: str) -> str:
        templates = EN_TEMPLATES if english else TEMPLATES
        sentences = [str(_pick(rng, templates)).format(**self._slots(rng, english, **names)) for _ in range(2)]
        return (" " if english else "").join(sentences)

    def _review(self, rng: np.random.Generator, number: int, sections: int, english: bool) -> SyntheticFile:
        customer, competitor = str(_pick(rng, self.customers)), str(_pick(rng, self.competitors))
        product = str(_pick(rng, PRODUCTS))
        industry = str(_pick(rng, INDUSTRIES_EN if english else INDUSTRIES))
        outcome = str(_pick(rng, OUTCOMES))
        title = f"{customer}{product}项目复盘" if not english else f"{customer} {product} deal review"
        lines = [
            "---", "kind: review", f"title: {title}", f"outcome: {outcome}", f"customer: {customer}", f"industry: {industry}",
            f"region: {_pick(rng, REGIONS)}", f"deal_size: {int(rng.integers(10, 900)) * 10000}", "currency: CNY",
            f"competitors: [{competitor}]", f"stage: {_pick(rng, STAGES)}", f"date: 2025-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
            f"author: {_pick(rng, self.people)}", "---", f"# {title}", "",
        ]
        for i in range(sections):
            heading = REVIEW_SECTIONS[min(i, len(REVIEW_SECTIONS) - 1)][0] if i < len(REVIEW_SECTIONS) else f"经验教训{i - 2}"
            lines += [f"## {heading}", self._paragraph(rng, english, product=product, customer=customer, competitor=competitor), ""]
        return SyntheticFile(f"review-{number:06d}.md", "\n".join(lines), "review", industry, outcome)

    def _playbook(self, rng: np.random.Generator, number: int, sections: int, english: bool) -> SyntheticFile:
        product = str(_pick(rng, PRODUCTS))
        title = f"{product}销售手册第{number}册" if not english else f"{product} sales playbook {number}"
        lines = ["---", "kind: playbook", f"title: {title}", f"author: {_pick(rng, self.people)}", "---", f"# {title}", ""]
        for i in range(sections):
            heading = str(_pick(rng, PLAYBOOK_HEADINGS)).format(
                verb=_pick(rng, VERBS), obj=self.vocabulary.draw(rng, 1)[0], n=int(rng.integers(3, 9)), role=_pick(rng, ROLES)
            )
            names = {"product": product, "customer": str(_pick(rng, self.customers)), "competitor": str(_pick(rng, self.competitors))}
            lines += [f"## {heading}", self._paragraph(rng, english, **names), ""]
        return SyntheticFile(f"playbook-{number:06d}.md", "\n".join(lines), "playbook", "", None)
