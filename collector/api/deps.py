"""Route dependencies as ``Annotated`` aliases: what a route needs reads as its signature."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Path, Query, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collector.devices import service as devices_service
from collector.devices.models import Device
from collector.files.service import FileService
from collector.files.store import FileStore
from collector.publisher import Publisher
from collector.settings import CollectorSettings
from contract.topics import IDENTIFIER_PATTERN


class HasRegistry(Protocol):
    @property
    def registry(self) -> CollectorRegistry: ...


class ApiRuntime(Protocol):
    """What the API needs of :class:`collector.runtime.Runtime`, and nothing more."""

    @property
    def settings(self) -> CollectorSettings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def publisher(self) -> Publisher: ...

    @property
    def file_store(self) -> FileStore: ...

    @property
    def metrics(self) -> HasRegistry: ...

    @property
    def ready(self) -> bool: ...


def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for one request; routes read and call services, services commit."""
    with Session(runtime.engine, expire_on_commit=False) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_publisher(runtime: RuntimeDep) -> Publisher:
    return runtime.publisher


PublisherDep = Annotated[Publisher, Depends(get_publisher)]


def get_file_store(runtime: RuntimeDep) -> FileStore:
    return runtime.file_store


FileStoreDep = Annotated[FileStore, Depends(get_file_store)]


def get_file_service(request: Request) -> FileService:
    files: FileService = request.app.state.files
    return files


FileServiceDep = Annotated[FileService, Depends(get_file_service)]


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int


def page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="rows per page")] = 50,
    offset: Annotated[int, Query(ge=0, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageParams = Annotated[Page, Depends(page_params)]

DeviceIdPath = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="device id")]


def existing_device(device_id: DeviceIdPath, session: SessionDep) -> Device:
    """The device named in the path, or 404."""
    device = devices_service.get_device(session, device_id)
    if device is None:
        raise HTTPException(status_code=404, detail=f"unknown device {device_id!r}")
    return device


DeviceDep = Annotated[Device, Depends(existing_device)]
