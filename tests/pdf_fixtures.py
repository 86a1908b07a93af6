"""PDFs built with reportlab for the PDF tests: outlines, running headers and footers, a contents page, two columns."""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

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
