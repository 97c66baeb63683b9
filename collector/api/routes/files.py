"""Resumable uploads and downloads; the protocol is described in :mod:`collector.files.service`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.requests import ClientDisconnect

from collector.api.deps import (
    CurrentPrincipal,
    FileServiceDep,
    RuntimeDep,
    SessionDep,
    VisibleCentres,
    require,
    sees_everything,
)
from collector.api.schemas import ApiModel
from collector.devices import service as devices_service
from collector.files.models import StoredFile, UploadState
from collector.files.ranges import range_response
from collector.files.service import (
    ChecksumMismatch,
    ChunkTooLarge,
    ChunkWriter,
    OffsetMismatch,
    UploadClosed,
    UploadError,
    UploadNotFound,
    UploadTooLarge,
)
from contract.topics import Identifier

log = logging.getLogger(__name__)

router = APIRouter(tags=["files"])


def visible_upload(
    file_id: UUID,
    session: SessionDep,
    files: FileServiceDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> None:
    """404 for an upload of a centre the caller cannot see; uploads that belong to no
    device (no centre) are a system administrator's."""
    row = files.get_upload(session, str(file_id))
    if row is not None and not (sees_everything(principal) or row.centre_id in visible):
        raise HTTPException(status_code=404, detail=f"unknown upload {file_id}")


READ = [require("devices.view"), Depends(visible_upload)]
WRITE = [require("devices.command")]

FLUSH_BYTES = 1024 * 1024  # request bytes buffered before one write to the store
UPLOAD_CONTENT_TYPE = "application/offset+octet-stream"


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    size: int = Field(ge=0, description="bytes of the whole file")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 of the whole file")
    content_type: str = Field(
        default="application/octet-stream",
        max_length=128,
        pattern=r"^[\w.+\-]+/[\w.+\-]+$",
    )
    device_id: Identifier | None = Field(default=None, description="the device it came from")
    meta: dict[str, Any] = Field(default_factory=dict)


class FileOut(ApiModel):
    id: str
    name: str
    size: int
    sha256: str
    offset: int = Field(description="bytes received so far")
    state: UploadState
    content_type: str
    device_id: str | None
    centre_id: str | None
    meta: dict[str, Any]
    created_at: datetime
    completed_at: datetime | None
    upload_url: str
    content_url: str


def _out(request: Request, row: StoredFile) -> FileOut:
    return FileOut.model_validate(
        {
            **row.model_dump(exclude={"received", "store_key"}),
            "offset": row.received,
            "upload_url": str(request.url_for("patch_file", file_id=row.id)),
            "content_url": str(request.url_for("file_content", file_id=row.id)),
        }
    )


def _offset_headers(row: StoredFile) -> dict[str, str]:
    return {
        "Upload-Offset": str(row.received),
        "Upload-Length": str(row.size),
        "Upload-State": UploadState(row.state).value,
        "Cache-Control": "no-store",
    }


def _error(exc: UploadError, offset: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": str(exc)}
    headers: dict[str, str] = {}
    status = 400
    if isinstance(exc, UploadNotFound):
        status, body["detail"] = 404, f"unknown upload {exc}"
    elif isinstance(exc, OffsetMismatch):  # includes UploadBusy
        status, offset = 409, exc.offset
    elif isinstance(exc, UploadClosed):
        status, offset, body["state"] = 409, exc.offset, exc.state.value
    elif isinstance(exc, ChunkTooLarge):
        status = 413
    elif isinstance(exc, UploadTooLarge):
        status, body["limit"] = 413, exc.limit
    elif isinstance(exc, ChecksumMismatch):
        status, body["expected"], body["actual"] = 422, exc.expected, exc.actual
    if offset is not None:
        body["offset"] = offset
        headers["Upload-Offset"] = str(offset)
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/files",
    status_code=201,
    response_model=FileOut,
    responses={404: {}, 413: {}, 422: {"description": "invalid input or (size 0) checksum"}},
    dependencies=WRITE,
)
def create_file(
    body: FileIn,
    request: Request,
    session: SessionDep,
    files: FileServiceDep,
    principal: CurrentPrincipal,
    visible: VisibleCentres,
) -> Response:
    """Start an upload. Send the bytes with ``PATCH upload_url``. An upload without a
    device belongs to no centre and needs a system administrator."""
    centre_id = None
    if body.device_id is None and not sees_everything(principal):
        raise HTTPException(status_code=403, detail="an upload without a device needs an admin")
    if body.device_id is not None:
        device = devices_service.get_device(session, body.device_id)
        if device is None or device.centre_id not in visible:
            raise HTTPException(status_code=404, detail=f"unknown device {body.device_id!r}")
        centre_id = device.centre_id
    try:
        row = files.create_upload(
            session,
            name=body.name,
            size=body.size,
            sha256=body.sha256,
            content_type=body.content_type,
            device_id=body.device_id,
            centre_id=centre_id,
            meta=body.meta,
        )
    except UploadError as exc:
        return _error(exc)
    out = _out(request, row)
    headers = {**_offset_headers(row), "Location": out.upload_url}
    return JSONResponse(out.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("/files/{file_id}", response_model=FileOut, dependencies=READ)
def get_file(
    file_id: UUID, request: Request, session: SessionDep, files: FileServiceDep
) -> FileOut:
    row = files.get_upload(session, str(file_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"unknown upload {file_id}")
    return _out(request, row)


@router.head("/files/{file_id}", name="head_file", dependencies=READ)
def head_file(file_id: UUID, session: SessionDep, files: FileServiceDep) -> Response:
    """``Upload-Offset``: where to resume."""
    row = files.get_upload(session, str(file_id))
    if row is None:
        return Response(status_code=404)
    return Response(status_code=200, headers=_offset_headers(row))


@router.patch(
    "/files/{file_id}",
    name="patch_file",
    status_code=204,
    responses={409: {}, 413: {}, 422: {"description": "checksum mismatch"}},
    dependencies=[*WRITE, Depends(visible_upload)],
)
async def patch_file(
    file_id: UUID,
    request: Request,
    runtime: RuntimeDep,
    files: FileServiceDep,
    upload_offset: Annotated[int, Header(ge=0, description="offset this body starts at")],
) -> Response:
    """Append the body at ``Upload-Offset``; the body is streamed to the store."""
    engine = runtime.engine

    def begin() -> ChunkWriter:
        with Session(engine, expire_on_commit=False) as session:
            return files.begin_chunk(session, str(file_id), upload_offset)

    def end(writer: ChunkWriter, keep: bool) -> StoredFile:
        with Session(engine, expire_on_commit=False) as session:
            return files.end_chunk(session, writer, keep=keep)

    try:
        writer = await run_in_threadpool(begin)
    except UploadError as exc:
        return _error(exc)

    keep, failure = True, None
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and writer.offset + int(declared) > writer.size:
            raise ChunkTooLarge(writer.offset, writer.size)
        await _receive_into(request, writer)
    except ClientDisconnect:
        log.info("upload %s: client went away at offset %d", file_id, writer.offset)
    except ChunkTooLarge as exc:
        keep, failure = False, exc
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(_end_quietly, end, writer)
        raise
    try:
        with anyio.CancelScope(shield=True):
            row = await run_in_threadpool(end, writer, keep)
    except UploadError as exc:
        return _error(exc)
    if failure is not None:
        return _error(failure, row.received)
    return Response(status_code=204, headers=_offset_headers(row))


async def _receive_into(request: Request, writer: ChunkWriter) -> None:
    buf = bytearray()
    try:
        async for chunk in request.stream():
            buf += chunk
            if writer.offset + len(buf) > writer.size:
                buf.clear()
                raise ChunkTooLarge(writer.offset, writer.size)
            if len(buf) >= FLUSH_BYTES:
                await run_in_threadpool(writer.write, bytes(buf))
                buf.clear()
    finally:
        if buf:  # what arrived before a disconnect counts too
            await run_in_threadpool(writer.write, bytes(buf))


def _end_quietly(end: Any, writer: ChunkWriter) -> None:
    try:
        end(writer, True)
    except Exception:
        log.exception("upload %s: could not record offset after an error", writer.file_id)


def _content_disposition(name: str) -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/files/{file_id}/content",
    name="file_content",
    response_class=StreamingResponse,
    dependencies=READ,
)
def file_content(
    file_id: UUID,
    session: SessionDep,
    files: FileServiceDep,
    range: Annotated[str | None, Header()] = None,
) -> Response:
    """The bytes of a complete file; one ``Range: bytes=a-b`` is honoured (206)."""
    row = files.get_upload(session, str(file_id))
    if row is None:
        raise HTTPException(status_code=404, detail=f"unknown upload {file_id}")
    if row.state != UploadState.COMPLETE:
        return JSONResponse(
            {"detail": f"upload is {row.state}", "state": row.state, "offset": row.received},
            status_code=409,
        )
    headers = {
        "ETag": f'"{row.sha256}"',
        "Content-Disposition": _content_disposition(row.name),
    }
    return range_response(
        range,
        row.size,
        lambda start, end: files.open_content(row, start, end),
        media_type=row.content_type,
        headers=headers,
    )
