"""kb doctor: checks that the catalog, the lexical index and the vectors tell one story, and repairs them.

The catalog is the source of truth; vectors and full-text rows are derived from it, so every repair
rebuilds derived data from the catalog and never the other way round.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kb.embedding import fingerprint
from kb.errors import StoreError, describe
from kb.workspace import Workspace

EXAMPLES = 10


@dataclass
class Finding:
    """One thing found wrong, in plain words, with what --repair does about it (None: it cannot)."""

    problem: str
    examples: list[str] = field(default_factory=list)
    repair: Callable[[], None] | None = None


def examine(workspace: Workspace) -> list[Finding]:
    """Everything wrong with the data dir; an empty list means the store is whole."""
    catalog = workspace.catalog
    findings: list[Finding] = []
    problems = catalog.storage_problems()
    if problems:
        findings.append(Finding("SQLite reports the catalog file damaged; restore it from a `kb export`", problems[:EXAMPLES]))
    for what, rows in catalog.dangling_references().items():
        findings.append(Finding(f"{len(rows)} {what}", rows[:EXAMPLES], lambda: _remove_dangling(workspace)))
    for problem in catalog.lexical_problems():
        findings.append(Finding(problem, repair=catalog.retokenize))
    wrong_counts = catalog.count_problems()
    if wrong_counts:
        findings.append(Finding("the kept row counts (`kb stats`) differ from the rows", wrong_counts, catalog.recount))
    stranded = _stranded_files(workspace)
    if stranded:
        findings.append(
            Finding(f"{len(stranded)} submitted reviews or uploads were never stored (interrupted)", stranded[:EXAMPLES], workspace.ingestor.finish_interrupted)
        )
    findings.extend(_vector_findings(workspace))
    return findings


def _stranded_files(workspace: Workspace) -> list[str]:
    settings, catalog = workspace.settings, workspace.catalog
    return [
        str(path)
        for folder in (settings.reviews_dir, settings.uploads_dir)
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path.is_file() and catalog.document_by_path(str(path.resolve())) is None
    ]


def _vector_findings(workspace: Workspace) -> list[Finding]:
    catalog = workspace.catalog
    try:
        index = workspace.index
        indexed_ids = set(index.iter_ids())
    except Exception as exc:  # a missing, half-written or foreign Chroma directory fails in many ways
        return [Finding(f"the vector store cannot be read ({describe(exc)})", repair=lambda: _recreate_vector_store(workspace))]
    vectors = workspace.vectors
    findings = []
    configured = fingerprint(workspace.embedder)
    indexed_model = index.model_fingerprint
    dimension = index.stored_dimension()
    if (indexed_model and indexed_model != configured) or (dimension is not None and dimension != workspace.embedder.dim):
        findings.append(
            Finding(
                f"the vectors were made by {indexed_model or 'an unknown model'} ({dimension} dimensions); "
                f"kb is configured for {configured}",
                repair=workspace.vectors.rebuild,
            )
        )
    if vectors.rebuild_requested():
        findings.append(Finding("a requested rebuild of the vectors has not been done", repair=workspace.vectors.rebuild))
    stale = vectors.stale_collections()
    if stale:
        findings.append(Finding(f"{len(stale)} vector collections left by an interrupted rebuild", stale, vectors.drop_stale_collections))
    pending = catalog.pending_vector_count()
    if pending:
        findings.append(Finding(f"{pending} chunks wait for their vector change to be applied (interrupted writing)", repair=vectors.drain))
    chunk_ids = catalog.chunk_ids()
    queued = {w.chunk_id for w in catalog.pending_vectors(pending)} if pending else set()
    missing = sorted(chunk_ids - indexed_ids - queued)
    if missing:
        titles = catalog.lesson_titles_of_chunks(missing[:EXAMPLES])
        findings.append(
            Finding(
                f"{len(missing)} chunks have no vector, so semantic search cannot find them",
                [f"{cid} (lesson “{titles.get(cid, '?')}”)" for cid in missing[:EXAMPLES]],
                lambda: _queue_and_apply(workspace, missing, "upsert"),
            )
        )
    orphans = sorted(indexed_ids - chunk_ids - queued)
    if orphans:
        findings.append(
            Finding(
                f"{len(orphans)} vectors belong to no chunk of the catalog",
                orphans[:EXAMPLES],
                lambda: _queue_and_apply(workspace, orphans, "delete"),
            )
        )
    return findings


def repair(workspace: Workspace, findings: list[Finding]) -> list[Finding]:
    """Run every repair; return the findings that have none."""
    for finding in findings:
        if finding.repair:
            finding.repair()
    return [f for f in findings if f.repair is None]


def _remove_dangling(workspace: Workspace) -> None:
    workspace.catalog.remove_dangling_references()
    workspace.vectors.drain()


def _queue_and_apply(workspace: Workspace, chunk_ids: list[str], op: str) -> None:
    workspace.catalog.queue_vectors(chunk_ids, op)
    workspace.vectors.drain()


def _recreate_vector_store(workspace: Workspace) -> None:
    """Move an unreadable local store aside and rebuild every vector from the catalog."""
    settings = workspace.settings
    if settings.chroma_url:
        raise StoreError(f"the Chroma server at {settings.chroma_url} cannot be read; check that it runs, then run `kb doctor --repair` again")
    if not workspace.lock.try_acquire("doctor"):
        raise StoreError("a running kb server holds the vector store; stop it, then run `kb doctor --repair`")
    try:
        workspace.reopen_index()
        if settings.chroma_dir.exists():
            aside = settings.chroma_dir.with_name(f"chroma.damaged-{time.strftime('%Y%m%d%H%M%S')}")
            shutil.move(str(settings.chroma_dir), aside)
        workspace.vectors.rebuild()
    finally:
        workspace.lock.release()
