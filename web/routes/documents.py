"""The ingested documents (`GET /documents`) and uploads (`POST /documents`, `POST /api/documents`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ingest.loaders import SUPPORTED_SUFFIXES
from ingest.uploads import SIZE_PROBLEMS, UploadResult, ingest_upload
from kb.accounts import User
from kb.catalog import Catalog
from kb.errors import BadFieldError
from kb.workspace import Workspace
from kb.sources import document_labels
from web.auth import can_read, require
from web.deps import CatalogDep, WorkspaceDep, recheck_gaps_after
from web.templating import render

router = APIRouter()

MAX_FILES = 20  # per request
FILES_FIELD = "files"

_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILES_FIELD],
                    "properties": {FILES_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}}},
                }
            }
        },
    }
}


def _max_bytes(request: Request) -> int:
    return request.app.state.settings.max_upload_mb * 1024 * 1024


def limit_body(request: Request) -> None:
    """Refuse a request body that cannot fit MAX_FILES files of the size limit before reading any of it."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FILES * _max_bytes(request) + 1024 * 1024:
        raise HTTPException(status_code=413, detail=f"the upload is larger than {MAX_FILES} files of {request.app.state.settings.max_upload_mb} MB")


async def _ingest_uploads(request: Request, workspace: Workspace, uploader: User) -> list[UploadResult]:
    """Each uploaded file checked, stored and ingested in turn, its lessons owned by the uploader; one bad file does
    not stop the others."""
    form = await request.form()
    uploads = [item for item in form.getlist(FILES_FIELD) if isinstance(item, UploadFile) and (item.filename or item.size)]
    if not uploads:
        raise BadFieldError(FILES_FIELD, "choose at least one file", code="choose_file")
    if len(uploads) > MAX_FILES:
        raise BadFieldError(FILES_FIELD, f"at most {MAX_FILES} files at a time", code="too_many_files", n=MAX_FILES)
    limit = _max_bytes(request)
    results = []
    for upload in uploads:
        data = await upload.read(limit + 1)  # one byte more than allowed is enough to know it is too large
        results.append(
            await run_in_threadpool(
                ingest_upload,
                workspace.ingestor,
                workspace.settings.uploads_dir,
                upload.filename or "",
                data,
                max_bytes=limit,
                uploader=uploader.name,
            )
        )
    return results


@router.get("/documents", dependencies=[Depends(can_read)], include_in_schema=False)
def documents_page(request: Request, catalog: CatalogDep):
    return _page(request, catalog, results=None)


def _status(results: list[UploadResult]) -> int:
    """413 when every file was refused for a size limit (a whole request of bombs or giants), else 200."""
    return 413 if all(result.problem in SIZE_PROBLEMS for result in results) else 200


@router.post("/documents", dependencies=[Depends(limit_body), Depends(recheck_gaps_after)], include_in_schema=False)
async def upload_page(request: Request, workspace: WorkspaceDep, user: User = Depends(require("trainer"))):
    results = await _ingest_uploads(request, workspace, user)
    return _page(request, workspace.catalog, results=results, status_code=_status(results))


@router.post(
    "/api/documents",
    dependencies=[Depends(limit_body), Depends(recheck_gaps_after)],
    openapi_extra=_MULTIPART_BODY,
    tags=["documents"],
    responses={413: {"description": "every file was over a size limit (upload size, or a .docx that inflates too far)"}},
)
async def api_upload(request: Request, workspace: WorkspaceDep, user: User = Depends(require("trainer"))):
    """Upload files (multipart field ``files``, trainer role): ``{"files": [{"name", "status", "lessons", "error"}]}``.
    The uploader owns the new lessons."""
    results = await _ingest_uploads(request, workspace, user)
    return JSONResponse({"files": [result.to_json() for result in results]}, status_code=_status(results))


def _page(request: Request, catalog: Catalog, results: list[UploadResult] | None, status_code: int = 200):
    documents = catalog.list_documents()
    reviews_dir = request.app.state.settings.reviews_dir.resolve()
    return render(
        request,
        "documents.html",
        {
            "documents": sorted(documents, key=lambda d: d.ingested_at, reverse=True),
            "labels": document_labels(documents),
            # Reviews typed into the form live under generated file names that mean nothing to a reader.
            "web_reviews": {d.id for d in documents if Path(d.path).parent == reviews_dir},
            "results": results,
            "suffixes": SUPPORTED_SUFFIXES,
            "max_upload_mb": request.app.state.settings.max_upload_mb,
            "max_files": MAX_FILES,
        },
        status_code=status_code,
    )
