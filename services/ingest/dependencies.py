"""The only reader of ``app.state``: Annotated aliases the routes declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.service.document_files import DocumentFiles
from services.ingest.service.document_jobs import DocumentJobs
from services.ingest.service.document_results import DocumentResults
from services.ingest.service.job_updates import JobUpdates
from services.ingest.service.jobs import JobService, Viewer
from services.ingest.service.runtime import IngestRuntime
from services.ingest.settings import IngestSettings
from shared.database import session_scope
from shared.errors import Unauthorized
from shared.identity import Principal
from shared.internal import check_internal_token
from shared.principal import optional_principal


def get_runtime(request: Request) -> IngestRuntime:
    runtime: IngestRuntime = request.app.state.ingest
    return runtime


RuntimeDep = Annotated[IngestRuntime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> IngestSettings:
    return runtime.settings


SettingsDep = Annotated[IngestSettings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(request.app.state.sessions):
        yield session


DbDep = Annotated[AsyncSession, Depends(get_db)]


def get_jobs(runtime: RuntimeDep, db: DbDep) -> JobService:
    return JobService(db, runtime.events, on_commit=runtime.relay.wake)


def get_job_updates(runtime: RuntimeDep, db: DbDep) -> JobUpdates:
    return JobUpdates(db, runtime.events, takeover_after=runtime.settings.takeover_after_seconds)


JobsDep = Annotated[JobService, Depends(get_jobs)]
JobUpdatesDep = Annotated[JobUpdates, Depends(get_job_updates)]


async def get_optional_principal(request: Request, runtime: RuntimeDep) -> Principal | None:
    return await optional_principal(request, runtime.verifier)


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_principal(principal: OptionalPrincipalDep) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_viewer(principal: OptionalPrincipalDep, request: Request) -> Viewer:
    """The caller as the ownership rules see it (a guest by its ``session_id``)."""
    guest = request.query_params.get("session_id") if principal is None else None
    return Viewer.of(principal, guest)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def require_internal_token(request: Request, settings: SettingsDep) -> None:
    check_internal_token(request, settings.internal_token)


def get_document_files(runtime: RuntimeDep, db: DbDep) -> DocumentFiles:
    return DocumentFiles(db, runtime.s3)


def get_document_jobs(runtime: RuntimeDep, db: DbDep) -> DocumentJobs:
    return DocumentJobs(
        db,
        runtime.s3,
        runtime.events,
        on_commit=runtime.relay.wake,
        download_expiry_seconds=runtime.settings.files_download_expiry_seconds,
    )


def get_document_results(db: DbDep) -> DocumentResults:
    return DocumentResults(db)


DocumentFilesDep = Annotated[DocumentFiles, Depends(get_document_files)]
DocumentJobsDep = Annotated[DocumentJobs, Depends(get_document_jobs)]
DocumentResultsDep = Annotated[DocumentResults, Depends(get_document_results)]
