"""Property tests (hypothesis) of the cleaner, the structure parser and the chunker on generated Chinese/English text."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.chunking import chunk_blocks
from ingest.cleaning import clean_blocks, clean_inline
from ingest.structure import build_sections, iter_sections, looks_like_title
from kb.domain import Heading, Paragraph
from kb.errors import BadFileError
from kb.settings import Settings
from kb.workspace import Workspace

# Letters of both scripts, digits, the punctuation sentences are split at, spaces and a few odd characters.
ALPHABET = st.sampled_from(list("销售预算客户决策链方案投标abcXYZ019 ，。！？；：、,.!?;:()（）《》“”-—…&#\u200b😀\t"))
TEXT = st.text(ALPHABET, min_size=0, max_size=300)
SENTENCE = st.text(st.sampled_from(list("销售预算客户决策链方案投标abc019 ，、")), min_size=1, max_size=120).map(lambda s: s.strip() + "。")
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=8).map("".join).filter(lambda p: p.strip("。 "))
FAST = settings(max_examples=100, deadline=None, derandomize=True)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@FAST
@given(TEXT)
def test_cleaning_text_twice_changes_nothing_more(text):
    once = clean_inline(text)
    assert clean_inline(once) == once


@FAST
@given(st.lists(st.one_of(TEXT.map(Paragraph), TEXT.map(lambda t: Heading(2, t))), max_size=12))
def test_cleaning_blocks_is_idempotent(blocks):
    once = clean_blocks(blocks).blocks
    assert clean_blocks(once).blocks == once


@FAST
@given(st.lists(PARAGRAPH, min_size=1, max_size=10), st.integers(min_value=40, max_value=400))
def test_chunks_keep_every_character_in_order_and_stay_bounded(paragraphs, target):
    hard_max = max(target, 350) + 100
    chunks = chunk_blocks([Paragraph(p) for p in paragraphs], target=target, hard_max=hard_max)
    assert squeeze("".join(chunks)) == squeeze("".join(paragraphs))
    assert all(len(chunk) <= hard_max for chunk in chunks)


@FAST
@given(st.lists(st.tuples(st.text(st.sampled_from(list("销售预算客户方案abc")), min_size=1, max_size=12), st.lists(PARAGRAPH, min_size=1, max_size=3)), min_size=1, max_size=6))
def test_no_sentence_is_lost_between_sections_and_their_chunks(sections):
    blocks = []
    for heading, paragraphs in sections:
        blocks.append(Heading(2, heading))
        blocks.extend(Paragraph(p) for p in paragraphs)
    root = build_sections(blocks, structured=True, title="手册")
    in_sections = "".join(
        chunk for section in iter_sections(root) for chunk in chunk_blocks(section.blocks, target=240, hard_max=600)
    )
    # A heading that cannot name a section (a lone letter, a date) stays in the text as a paragraph.
    expected = "".join(("" if looks_like_title(heading) else heading) + "".join(paragraphs) for heading, paragraphs in sections)
    assert squeeze(in_sections) == squeeze(expected)


@pytest.fixture(scope="module")
def ingestor(tmp_path_factory: pytest.TempPathFactory):
    workspace = Workspace(Settings(data_dir=tmp_path_factory.mktemp("properties")))
    yield workspace.ingestor
    workspace.close()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(sections=st.lists(st.tuples(st.text(st.sampled_from(list("销售预算客户方案")), min_size=2, max_size=10), PARAGRAPH), min_size=1, max_size=5))
def test_lesson_and_chunk_ids_are_stable_across_reingest(ingestor, sections):
    def document(edited: bool) -> str:
        bodies = [body + ("补充一句新的经验。" if edited and n == 0 else "") for n, (_, body) in enumerate(sections)]
        return "# 手册\n\n" + "\n\n".join(f"## {heading}\n\n{body}" for (heading, _), body in zip(sections, bodies)) + "\n"

    runs = []
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "doc.md"
        for edited in (False, False, True):
            path.write_text(document(edited), encoding="utf-8")
            try:
                runs.append(ingestor.prepare(path, hashlib.sha256(path.read_bytes()).hexdigest()))
            except BadFileError as exc:  # a document without lesson text is refused, the same way each time
                assert "no lesson text" in str(exc)
                return
    first, again, after_edit = runs
    assert [lesson.id for lesson in first.lessons] == [lesson.id for lesson in again.lessons]
    assert [chunk.id for chunk in first.chunks] == [chunk.id for chunk in again.chunks]
    # Editing one section's text keeps every lesson's id: links and lesson sets stay valid.
    assert [lesson.id for lesson in first.lessons] == [lesson.id for lesson in after_edit.lessons]
