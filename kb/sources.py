"""How pages and exports name a lesson's source: its document's title (with date and author for reviews), never a file name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from kb.domain import Document, shown_title


def document_labels(documents: Iterable[Document]) -> dict[str, str]:
    """Document id → a label that tells every document apart: the title, for reviews with date and author,
    and a running number (in ingest order) for documents that would still read the same."""
    documents = sorted(documents, key=lambda d: (d.ingested_at, d.id))
    labels = {d.id: _label(d) for d in documents}
    totals = Counter(labels.values())
    seen: Counter[str] = Counter()
    for document in documents:
        label = labels[document.id]
        if totals[label] > 1:
            seen[label] += 1
            labels[document.id] = f"{label} ({seen[label]})"
    return labels


def _label(document: Document) -> str:
    title = shown_title(document.title, document.path)
    if document.kind != "review":
        return title
    details = [str(document.metadata.get(name) or "").strip() for name in ("date", "author")]
    return " · ".join([title, *(d for d in details if d)])
