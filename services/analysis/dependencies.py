"""The only reader of ``app.state``: Annotated aliases the routes declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.analysis.service.chat_exports import ChatExportService, Requester
from services.analysis.service.chats import ChatIngestion, Origin
from services.analysis.service.datasets import DatasetResults, DatasetService, DatasetViewer
from services.analysis.service.exports import ExportService, Viewer
from services.analysis.service.runtime import AnalysisRuntime
from services.analysis.service.skype_loading import SkypeLoading
from services.analysis.settings import AnalysisSettings
from shared.database import session_scope
from shared.errors import Unauthorized
from shared.identity import Principal
from shared.internal import check_internal_token
from shared.net import client_ip
from shared.principal import optional_principal
from shared.request_context import current_request_id


def get_runtime(request: Request) -> AnalysisRuntime:
    runtime: AnalysisRuntime = request.app.state.analysis
    return runtime


RuntimeDep = Annotated[AnalysisRuntime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> AnalysisSettings:
    return runtime.settings


SettingsDep = Annotated[AnalysisSettings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(request.app.state.sessions):
        yield session


DbDep = Annotated[AsyncSession, Depends(get_db)]


def get_exports(runtime: RuntimeDep, db: DbDep) -> ExportService:
    return ExportService(
        db,
        s3=runtime.s3,
        http=runtime.http,
        ingest_url=runtime.settings.ingest_internal_url,
        internal_token=runtime.settings.internal_token,
    )


def get_skype_loading(runtime: RuntimeDep, db: DbDep) -> SkypeLoading:
    return SkypeLoading(db, runtime.s3)


ExportsDep = Annotated[ExportService, Depends(get_exports)]
SkypeLoadingDep = Annotated[SkypeLoading, Depends(get_skype_loading)]


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    principal = await optional_principal(request, runtime.verifier)
    if principal is None:
        raise Unauthorized()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_viewer(principal: PrincipalDep) -> Viewer:
    return Viewer.of(principal)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def dataset_service(runtime: AnalysisRuntime, db: AsyncSession) -> DatasetService:
    settings = runtime.settings
    return DatasetService(
        db,
        http=runtime.http,
        ingest_url=settings.ingest_internal_url,
        internal_token=settings.internal_token,
        guest_ttl=timedelta(seconds=settings.guest_upload_ttl_seconds),
    )


def get_datasets(runtime: RuntimeDep, db: DbDep) -> DatasetService:
    return dataset_service(runtime, db)


def get_dataset_results(db: DbDep) -> DatasetResults:
    return DatasetResults(db)


DatasetsDep = Annotated[DatasetService, Depends(get_datasets)]
DatasetResultsDep = Annotated[DatasetResults, Depends(get_dataset_results)]


async def get_dataset_viewer(request: Request, runtime: RuntimeDep) -> DatasetViewer:
    """Any credentials, or a guest by its ``session_id`` (query parameter)."""
    principal = await optional_principal(request, runtime.verifier)
    return DatasetViewer.of(principal, request.query_params.get("session_id"))


DatasetViewerDep = Annotated[DatasetViewer, Depends(get_dataset_viewer)]


def require_internal_token(request: Request, settings: SettingsDep) -> None:
    check_internal_token(request, settings.internal_token)


# --- chat data and exports ---


def get_chats(runtime: RuntimeDep, db: DbDep) -> ChatIngestion:
    return ChatIngestion(db, runtime.geo, geo_wait=runtime.settings.geo_wait_seconds)


ChatsDep = Annotated[ChatIngestion, Depends(get_chats)]


def get_origin(request: Request, settings: SettingsDep) -> Origin:
    """The caller's address as the gateway saw it (``X-Forwarded-For`` believed only
    from a trusted proxy; the gateway proof removes it from anything else)."""
    peer = request.client.host if request.client else None
    return Origin(
        ip=client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
        referrer=request.headers.get("referer"),
    )


OriginDep = Annotated[Origin, Depends(get_origin)]


def get_chat_exports(runtime: RuntimeDep) -> ChatExportService:
    return runtime.chat_exports


ChatExportsDep = Annotated[ChatExportService, Depends(get_chat_exports)]


def get_requester(principal: PrincipalDep) -> Requester:
    return Requester.of(principal, current_request_id())


RequesterDep = Annotated[Requester, Depends(get_requester)]
