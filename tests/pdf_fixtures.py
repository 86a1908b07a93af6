"""PDFs built with reportlab for the PDF tests: outlines, running headers and footers, a contents page, two columns,
paragraphs across page breaks, numbered headings, CJK, word spaces drawn as gaps."""

from __future__ import annotations

import io

from reportlab.lib.enums import TA_JUSTIFY, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate, Paragraph, SimpleDocTemplate, Spacer

SECTIONS = {
    "Discovery calls": [
        "A discovery call is where the customer explains the problem in their own words and we listen far more than we "
        "speak. Ask about the current process, who feels the pain, and what happens if nothing changes this year.",
        "Write the answers down the same day and share them with the solution engineer, so the demonstration that "
        "follows speaks to the problems the customer named rather than to every feature we have built.",
    ],
    "Pricing conversations": [
        "Never send a price before the customer has agreed on the value of solving the problem. When procurement asks "
        "for a discount, trade it for something of value such as a longer term, a reference call or faster payment.",
        "Keep the first proposal within the budget range the economic buyer gave you, and explain every line of it.",
    ],
    "Closing the deal": [
        "Agree on a mutual close plan with dates for legal review, security questions and the signature, and check it "
        "with the champion every week. Deals that slip usually slipped weeks earlier, when a step had no owner.",
    ],
    "After the signature": [
        "Introduce the delivery team before the contract is signed, so the customer meets the people who will make the "
        "promises real. A short kickoff within ten days keeps the momentum that the sales cycle built.",
    ],
}
HEADER = "Acme Sales Playbook"
FOOTER = "Confidential - internal use only"


def _page_furniture(pdf: canvas.Canvas, doc) -> None:
    pdf.saveState()
    pdf.setFont("Helvetica", 9)
    pdf.drawString(72, A4[1] - 40, HEADER)
    pdf.drawString(72, 30, FOOTER)
    pdf.drawRightString(A4[0] - 72, 30, str(doc.page))
    pdf.restoreState()


class _OutlinedDoc(SimpleDocTemplate):
    """Adds an outline entry for every heading paragraph, as word processors do when exporting bookmarks."""

    outlined = True

    def afterFlowable(self, flowable) -> None:
        if self.outlined and isinstance(flowable, Paragraph) and flowable.style.name.startswith("Heading"):
            key = f"h{id(flowable)}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=int(flowable.style.name[-1]) - 1)


def playbook_pdf(*, outline: bool, contents_page: bool = True, paragraphs_per_section: int = 3) -> bytes:
    """A multi-page playbook: title, a contents page, one heading per section, body paragraphs that wrap."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = _OutlinedDoc(buffer, pagesize=A4, topMargin=72, bottomMargin=72)
    doc.outlined = outline
    story = [Paragraph("Acme Sales Playbook 2025", styles["Title"]), Spacer(1, 12)]
    if contents_page:
        story.append(Paragraph("Contents", styles["Normal"]))
        for number, title in enumerate(SECTIONS, start=2):
            story.append(Paragraph(f"{title} {'.' * 60} {number}", styles["Normal"]))
    for title, paragraphs in SECTIONS.items():
        story += [PageBreak(), Paragraph(title, styles["Heading1"])]
        for _ in range(paragraphs_per_section):
            story += [Paragraph(text, styles["BodyText"]) for text in paragraphs]
    doc.build(story, onFirstPage=_page_furniture, onLaterPages=_page_furniture)
    return buffer.getvalue()


def two_column_pdf() -> bytes:
    """One page of two columns, each a heading over wrapped lines, with a hyphen splitting a word at a line end."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    left = "Discovery calls: " + " ".join(SECTIONS["Discovery calls"])
    right = "Pricing conversations: " + " ".join(SECTIONS["Pricing conversations"])
    for x, text in ((72, left), (320, right)):
        y = A4[1] - 100
        for line in simpleSplit(text, "Helvetica", 10, 200):
            pdf.setFont("Helvetica", 10)
            pdf.drawString(x, y, line)
            y -= 13
    pdf.setFont("Helvetica", 10)
    pdf.drawString(72, 200, "Our champion asked for a written nego-")
    pdf.drawString(72, 187, "tiation plan before the committee met in March.")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


CHINESE_SECTIONS = {
    "需求挖掘": "第一次拜访要先听客户讲清楚现在的流程和痛点，谁最着急，今年不解决会怎样。当天把记录整理好发给方案同事，让演示围绕客户说出的问题展开，而不是把所有功能都讲一遍。",
    "价格谈判": "在客户认可解决问题的价值之前不要报价。采购要求折扣时，要用更长的合同期、案例背书或更快的回款来交换，不能白白让利。第一版报价要落在决策人给出的预算范围内。",
}


def chinese_pdf() -> bytes:
    """Two pages of Chinese: larger bold headings over body lines wrapped at the margin."""
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for title, text in CHINESE_SECTIONS.items():
        y = A4[1] - 100
        pdf.setFont("STSong-Light", 18)
        pdf.drawString(72, y, title)
        y -= 30
        pdf.setFont("STSong-Light", 11)
        for line in simpleSplit(text * 2, "STSong-Light", 11, A4[0] - 144):
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- layouts as real documents print them: no outline, furniture on every page, paragraphs across breaks -----------

FIELD_GUIDE = {
    "1 Qualifying the opportunity": [
        "Before anyone writes a proposal, the account team agrees on three facts: the problem the customer wants solved, "
        "the date by which it must be solved, and the person who can release the budget. When one of the three is "
        "missing, the opportunity stays in the qualifying stage, however warm the meetings feel.",
        "A useful test is to ask the sponsor what happens if the project slips by six months. A vague answer means the "
        "pain is not yet sharp enough, and the team should invest in discovery rather than in a demonstration.",
    ],
    "2 Mapping the decision chain": [
        "Draw the buying committee on one page: who signs, who advises, who uses the system every day and who will be "
        "blamed if it fails. Mark each person as supporter, neutral or opponent, and write down the evidence, not the "
        "feeling, behind every mark.",
        "A deal with a single contact is a deal at risk. When the only friendly voice belongs to one vice president, a "
        "reorganisation or a holiday can stop everything, so every account plan names at least three relationships "
        "at different levels of the customer's organisation.",
        "The procurement manager once told us, “We buy from the vendor whose engineers already know our network,” and "
        "that sentence changed how we staffed the next bid.",
    ],
    "3 Writing the proposal": [
        "A proposal answers the customer's own words. Quote the problem statement from the discovery notes, show the "
        "measurable result the customer asked for, and keep the commercial terms on a single page that the finance "
        "director can read without a glossary.",
        "Every number in the proposal must be traceable to a source the customer trusts, such as their own figures or "
        "a reference site they can call. Invented savings are the fastest way to lose the credibility the team built "
        "during months of visits.",
    ],
    "4 Handling the competitor": [
        "Never attack a competitor by name in front of the customer. Ask instead which criteria matter most, and "
        "steer the evaluation towards the strengths that the customer has already confirmed in earlier meetings.",
        "When the competitor cuts the price, resist the reflex to follow. Trade every concession for something of value, "
        "such as a longer contract, a public reference or a faster payment schedule, and record the trade in the CRM.",
    ],
    "5 Learning from the result": [
        "Win or lose, the team holds a review within two weeks of the decision and writes down what the customer said, "
        "what the team believed, and where the two differed. The review is filed where the next team will find it.",
        "Reviews that blame the price teach nothing. Ask the customer which moment changed their mind, and record the "
        "answer in their own words, because those words are what the next new hire needs to hear.",
    ],
}
FIELD_GUIDE_TITLE = "Field Guide to Enterprise Selling"
FIELD_GUIDE_HEADER = "Field Guide to Enterprise Selling · Internal"
FIELD_GUIDE_FOOTER = "Prepared by the sales academy"

SMALL_PAGE = (300, 400)


def _guide_furniture(pdf: canvas.Canvas, doc) -> None:
    pdf.saveState()
    pdf.setFont("Helvetica-Oblique", 7.5)
    pdf.drawString(36, SMALL_PAGE[1] - 24, FIELD_GUIDE_HEADER)
    pdf.drawString(36, 18, FIELD_GUIDE_FOOTER)
    pdf.drawRightString(SMALL_PAGE[0] - 36, 18, f"Page {doc.page}")
    pdf.restoreState()


def field_guide_pdf(*, columns: int) -> bytes:
    """The field guide on small pages without an outline: numbered headings, paragraphs that run across columns
    and pages mid-sentence, a running header and a footer with page numbers.

    One column: ragged right, paragraphs marked by a first-line indent alone, headings a size above the body.
    Two columns: justified, paragraphs marked by space between them, headings bold at the body's size.
    """

    width, height = SMALL_PAGE[0] - 72, SMALL_PAGE[1] - 76
    if columns == 2:
        gap = 14
        frames = [Frame(36 + i * (width + gap) / 2, 36, (width - gap) / 2, height, id=f"c{i}") for i in range(2)]
        body = ParagraphStyle("body", fontName="Times-Roman", fontSize=9, leading=11, alignment=TA_JUSTIFY, spaceAfter=6)
        heading = ParagraphStyle("heading", fontName="Times-Bold", fontSize=9, leading=11, spaceBefore=8, spaceAfter=4)
    else:
        frames = [Frame(36, 36, width, height, id="c0")]
        body = ParagraphStyle("body", fontName="Helvetica", fontSize=10, leading=13, alignment=TA_LEFT, firstLineIndent=16)
        heading = ParagraphStyle("heading", fontName="Helvetica", fontSize=11, leading=14, spaceBefore=10, spaceAfter=4)
    title = ParagraphStyle("title", fontName="Helvetica-Bold", fontSize=15, leading=19, spaceAfter=10)
    return _small_pages(PageTemplate(frames=frames, onPage=_guide_furniture), FIELD_GUIDE_TITLE, FIELD_GUIDE, (title, heading, body))


def _small_pages(template, title: str, sections: dict[str, list[str]], styles: tuple) -> bytes:
    """A titled document of headed sections laid out by ``template`` on small pages."""
    title_style, heading_style, body_style = styles
    buffer = io.BytesIO()
    doc = BaseDocTemplate(buffer, pagesize=SMALL_PAGE, leftMargin=36, rightMargin=36, topMargin=40, bottomMargin=36)
    doc.addPageTemplates([template])
    story = [Paragraph(title, title_style)]
    for section, paragraphs in sections.items():
        story.append(Paragraph(section, heading_style))
        story += [Paragraph(text, body_style) for text in paragraphs]
    doc.build(story)
    return buffer.getvalue()


CHINESE_GUIDE = {
    "一、先判断商机是否成立": [
        "写方案之前，客户经理要先和团队确认三件事：客户要解决什么问题，必须在什么时间之前解决，谁能批准这笔预算。"
        "三件事缺一件，商机就还停在判断阶段，不管拜访时气氛多热烈，都不能急着报价。",
        "一个简单的检验办法是问发起人：如果项目推迟半年会怎样？回答含糊，说明痛点还不够尖锐，团队应该继续做需求挖掘，而不是安排演示。",
    ],
    "二、画出决策链": [
        "把采购委员会画在一页纸上：谁签字，谁提意见，谁每天使用系统，出了问题谁来背责任。"
        "每个人标上支持、中立或反对，并且写下依据，而不是感觉。只认识一位副总的项目风险很大，他一调岗，整个项目就可能停下来。",
        "所以每份客户计划都要写出至少三条不同层级的关系，并且定期检查这些关系是否还在。",
    ],
    "三、复盘要写客户的原话": [
        "无论赢单还是丢单，团队都要在结果出来两周内复盘，写下客户说了什么、我们以为是什么、两者差在哪里。"
        "把丢单都归因于价格的复盘没有价值，要问客户是哪一个时刻改变了他的想法，并用客户自己的话记录下来。",
    ],
}
CHINESE_GUIDE_TITLE = "大客户销售作战手册"
CHINESE_GUIDE_HEADER = "大客户销售作战手册（内部资料）"


def chinese_guide_pdf() -> bytes:
    """The Chinese guide on small pages without an outline: headings numbered 一、二、 at the body's size and font,
    paragraphs that run across page breaks, a running header and a 第 N 页 footer."""

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))

    def furniture(pdf: canvas.Canvas, doc) -> None:
        pdf.saveState()
        pdf.setFont("STSong-Light", 8)
        pdf.drawString(36, SMALL_PAGE[1] - 24, CHINESE_GUIDE_HEADER)
        pdf.drawCentredString(SMALL_PAGE[0] / 2, 18, f"第 {doc.page} 页")
        pdf.restoreState()

    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=10.5, leading=16, wordWrap="CJK", spaceAfter=8)
    heading = ParagraphStyle("heading", parent=body, spaceBefore=10, spaceAfter=6)
    title = ParagraphStyle("title", parent=body, fontSize=16, leading=22, spaceAfter=12)
    template = PageTemplate(frames=[Frame(36, 36, SMALL_PAGE[0] - 72, SMALL_PAGE[1] - 76)], onPage=furniture)
    return _small_pages(template, CHINESE_GUIDE_TITLE, CHINESE_GUIDE, (title, heading, body))


def glued_quote_pdf() -> bytes:
    """A justified line whose word spaces are drawn as gaps, not space characters, narrower than pdfplumber's default
    tolerance of 3 points, as TeX and many typesetters write them."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setFont("Times-Roman", 11)
    x = 72.0
    for word in "The buyer wrote “Huawei listens” in the minutes.".split():
        pdf.drawString(x, 700, word)
        x += pdfmetrics.stringWidth(word, "Times-Roman", 11) + 2.4
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
