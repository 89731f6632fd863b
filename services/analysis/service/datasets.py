"""Dataset uploads and their profiles (PyAnalypt): who sees what, the worker's results,
deletion and the expiry of guest uploads.

- ingest registers an upload before it queues its job (``register``: ``processing``);
- the worker's ``dataset.profiled`` stores the profile and the preview (``completed``),
  ``dataset.failed`` the reason (``failed``); each event is applied once;
- while a dataset is ``processing``, its job's progress is read from ingest (a job that
  failed there, in the dead-letter queue say, fails here too);
- a guest's upload expires ``guest_upload_ttl_seconds`` after it arrived: it reads as
  gone at once, and the sweep removes its object (through ingest) and its data.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.analysis.errors import DatasetDeletionUnavailable, DatasetNotFound, DatasetNotReady
from services.analysis.models import Dataset
from services.analysis.reports.dataset import render_dataset_report
from services.analysis.repository import AnalysisRepository
from shared.errors import BadRequest, NotFound
from shared.identity import Principal
from shared.log import get_logger
from shared.webhook_receiver import SignedEvent

log = get_logger("services.analysis.datasets")

PREVIEW_DEFAULT = 10
PREVIEW_MAX = 1000


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DatasetViewer:
    """Admins see every tenant, users their tenant's, guests their ``session_id``'s."""

    client_id: str | None
    is_admin: bool = False
    guest_session: str | None = None

    @classmethod
    def of(cls, principal: Principal | None, guest_session: str | None) -> DatasetViewer:
        if principal is None:
            return cls(client_id=None, guest_session=(guest_session or "").strip() or None)
        return cls(client_id=principal.client_id, is_admin=principal.is_admin)

    def may_see(self, dataset: Dataset) -> bool:
        if self.is_admin:
            return True
        if dataset.client_id is not None:
            return dataset.client_id == self.client_id
        return self.guest_session is not None and dataset.session_id == self.guest_session


def upload_fields(dataset: Dataset) -> dict[str, Any]:
    """The spec's upload shape, plus where its processing is."""
    return {
        "id": str(dataset.upload_id),
        "file": f"/media/uploads/{dataset.uploaded_at:%Y/%m/%d}/{dataset.original_filename}",
        "original_filename": dataset.original_filename,
        "file_size": dataset.file_size,
        "session_id": dataset.session_id,
        "uploaded_at": dataset.uploaded_at,
        "status": dataset.status,
        "error": dataset.error,
        "profiled_at": dataset.profiled_at,
        "expires_at": dataset.expires_at,
    }


def _uuid(raw: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise DatasetNotFound() from None


def _time(raw: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        raise BadRequest("uploaded_at is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class DatasetService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        http: httpx.AsyncClient,
        ingest_url: str,
        internal_token: str,
        guest_ttl: timedelta,
    ) -> None:
        self.session = session
        self.repo = AnalysisRepository(session)
        self._http = http
        self._ingest_url = ingest_url
        self._token = internal_token
        self._guest_ttl = guest_ttl

    # --- ingest's registration (internal) ---

    async def register(self, payload: dict[str, Any]) -> dict[str, Any]:
        owner = payload.get("owner") or {}
        uploaded_at = _time(payload.get("uploaded_at"))
        guest = owner.get("client_id") is None
        if guest and not owner.get("session_id"):
            raise BadRequest("A guest upload needs a session_id")
        dataset = await self.repo.register_dataset(
            {
                "upload_id": _uuid(payload.get("upload_id")),
                "job_id": _uuid(payload.get("job_id")),
                "user_id": owner.get("user_id"),
                "client_id": owner.get("client_id"),
                "session_id": owner.get("session_id") if guest else None,
                "original_filename": str(payload.get("original_filename") or "upload")[:512],
                "file_size": int(payload.get("file_size") or 0),
                "kind": str(payload.get("kind") or "")[:32],
                "status": "processing",
                "uploaded_at": uploaded_at,
                "expires_at": uploaded_at + self._guest_ttl if guest else None,
            }
        )
        await self.session.commit()
        return {"upload_id": str(dataset.upload_id), "status": dataset.status}

    # --- reading ---

    async def get(self, upload_id: str, viewer: DatasetViewer) -> Dataset:
        dataset = await self.repo.get_dataset(_uuid(upload_id))
        if (
            dataset is None
            or dataset.deleted_at is not None
            or (dataset.expires_at is not None and dataset.expires_at <= now())
            or not viewer.may_see(dataset)
        ):
            raise DatasetNotFound()
        return dataset

    async def list(self, viewer: DatasetViewer) -> list[dict[str, Any]]:
        if viewer.client_id is None and viewer.guest_session is None and not viewer.is_admin:
            raise BadRequest("A guest lists its uploads with ?session_id=...")
        datasets = await self.repo.list_datasets(
            client_id=viewer.client_id,
            session_id=viewer.guest_session,
            everyone=viewer.is_admin,
            now=now(),
        )
        return [upload_fields(d) for d in datasets]

    async def detail(self, upload_id: str, viewer: DatasetViewer) -> dict[str, Any]:
        """The upload with its status; its progress while processing; its profile when
        completed."""
        dataset = await self.get(upload_id, viewer)
        answer = upload_fields(dataset)
        if dataset.status == "processing":
            job = await self._job_state(dataset)
            if job is not None:
                answer["progress"] = job.get("progress")
                answer["message"] = job.get("message")
                if job.get("status") == "failed":
                    await self._mark_failed(dataset, str(job.get("error") or "Processing failed"))
                    answer.update(status="failed", error=dataset.error)
        if dataset.status == "completed":
            answer["progress"] = 100
            answer["profile"] = dataset.profile
        return answer

    async def ready(self, upload_id: str, viewer: DatasetViewer) -> Dataset:
        dataset = await self.get(upload_id, viewer)
        if dataset.status != "completed" or dataset.profile is None:
            reason = f": {dataset.error}" if dataset.error else f" (status: {dataset.status})"
            raise DatasetNotReady(f"The profile of this upload is not ready{reason}")
        return dataset

    async def preview(self, upload_id: str, viewer: DatasetViewer, rows: int) -> dict[str, Any]:
        dataset = await self.ready(upload_id, viewer)
        preview = dataset.preview or {"columns": [], "rows": []}
        return {
            "id": str(dataset.upload_id),
            "columns": preview.get("columns", []),
            "rows": preview.get("rows", [])[:rows],
            "total_rows": (dataset.profile or {}).get("table", {}).get("rows"),
        }

    async def report(self, upload_id: str, viewer: DatasetViewer) -> str:
        dataset = await self.ready(upload_id, viewer)
        assert dataset.profile is not None
        return render_dataset_report(
            dataset.profile, title=dataset.original_filename, preview=dataset.preview
        )

    # --- removal ---

    async def delete(self, upload_id: str, viewer: DatasetViewer) -> None:
        """The upload's object first (through ingest), then its data: if the object
        cannot be removed now, nothing is, and the caller may try again."""
        dataset = await self.get(upload_id, viewer)
        await self._remove_upload(dataset.upload_id)
        self._tombstone(dataset)
        await self.session.commit()

    async def expire(self, at: datetime, limit: int = 200) -> int:
        """Remove guest uploads whose time is up; the number removed."""
        removed = 0
        for dataset in await self.repo.expired_datasets(at, limit):
            try:
                await self._remove_upload(dataset.upload_id)
            except DatasetDeletionUnavailable:
                continue  # the next sweep tries again
            self._tombstone(dataset)
            removed += 1
        await self.session.commit()
        return removed

    def _tombstone(self, dataset: Dataset) -> None:
        dataset.deleted_at = now()
        dataset.status = "deleted"
        dataset.profile = None
        dataset.preview = None
        dataset.error = None

    async def _remove_upload(self, upload_id: uuid.UUID) -> None:
        try:
            response = await self._http.delete(
                f"{self._ingest_url}/internal/uploads/{upload_id}",
                headers={"X-Internal-Token": self._token},
            )
        except httpx.HTTPError as exc:
            log.error("dataset_upload_not_deleted", upload_id=str(upload_id), error=repr(exc))
            raise DatasetDeletionUnavailable() from exc
        if response.status_code != 200:
            log.error(
                "dataset_upload_not_deleted", upload_id=str(upload_id), status=response.status_code
            )
            raise DatasetDeletionUnavailable()

    async def _job_state(self, dataset: Dataset) -> dict[str, Any] | None:
        try:
            response = await self._http.get(
                f"{self._ingest_url}/internal/jobs/{dataset.job_id}",
                headers={"X-Internal-Token": self._token},
            )
        except httpx.HTTPError as exc:
            log.warning(
                "dataset_job_state_unavailable", job_id=str(dataset.job_id), error=repr(exc)
            )
            return None
        if response.status_code == 404:
            # Registered, but the upload never committed its job: it will not finish.
            return {"status": "failed", "error": "The upload did not complete; upload it again."}
        if response.status_code != 200:
            return None
        state: dict[str, Any] = response.json()
        return state

    async def _mark_failed(self, dataset: Dataset, reason: str) -> None:
        locked = await self.repo.get_dataset(dataset.upload_id, for_update=True)
        if locked is not None and locked.status == "processing":
            locked.status = "failed"
            locked.error = reason[:2000]
        await self.session.commit()


class DatasetResults:
    """The worker's ``dataset.*`` webhooks, each event applied once."""

    TOPICS = ("dataset.profiled", "dataset.failed")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = AnalysisRepository(session)

    async def apply(self, event: SignedEvent) -> dict[str, Any]:
        if event.topic not in self.TOPICS:
            raise NotFound(f"Unknown webhook topic {event.topic!r}")
        seen = await self.repo.event_response(event.event_id)
        if seen is not None:
            await self.session.rollback()
            return seen
        response = await self._store(event.topic, event.payload)
        if not await self.repo.record_event(event.event_id, event.topic, response):
            await self.session.rollback()
            return await self.repo.event_response(event.event_id) or response
        await self.session.commit()
        return response

    async def _store(self, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
        dataset = await self.repo.get_dataset(_uuid(payload.get("upload_id")), for_update=True)
        if dataset is None or str(dataset.job_id) != str(payload.get("job_id")):
            raise DatasetNotFound()
        if dataset.deleted_at is not None:
            return {"status": "deleted"}  # deleted or expired meanwhile: keep nothing
        if topic == "dataset.failed":
            dataset.status = "failed"
            dataset.error = str(payload.get("reason") or "The dataset could not be read")[:2000]
            return {"status": "failed"}
        profile, preview = payload.get("profile"), payload.get("preview")
        if not isinstance(profile, dict) or not isinstance(preview, dict):
            raise BadRequest("dataset.profiled needs a profile and a preview")
        dataset.profile = profile
        dataset.preview = preview
        dataset.file_id = payload.get("file_id")
        dataset.status = "completed"
        dataset.error = None
        dataset.profiled_at = now()
        return {"status": "completed"}


async def run_expiry(
    sessions: async_sessionmaker[AsyncSession],
    make_service: Any,
    interval: float,
) -> None:
    """The sweep: every ``interval`` seconds, remove the guest uploads whose time is up."""
    while True:
        try:
            async with sessions() as session:
                removed = await make_service(session).expire(now())
            if removed:
                log.info("guest_datasets_expired", removed=removed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a sweep that fails is retried at the next tick
            log.error("dataset_expiry_failed", error=repr(exc))
        await asyncio.sleep(interval)
