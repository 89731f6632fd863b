"""The four avatar tiers, in the spec's priority order, and their health.

``AvatarResolver.resolve`` tries live (when a live comment showed an avatar URL),
then the scraper, then the generators, then initials. A provider that fails, times out
or returns something that is not an image falls through to the next; initials never
fail. A page that says the user does not exist stops the chain with an initials avatar
and ``exists=False``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from yarl import URL

from services.profile.avatars.generated import identicon_svg, initials_svg
from services.profile.avatars.images import InvalidImage, ValidImage, validate_image
from services.profile.avatars.outbound import FetchFailed, FetchRefused, SafeFetcher
from services.profile.avatars.scraping import PageSaysNoSuchUser, parse_profile_page
from services.profile.clock import Clock, iso
from services.profile.settings import ProfileSettings
from shared.log import get_logger

log = get_logger("services.profile.avatars")

PRIORITY = {"live": 10, "scraper": 9, "generator": 3, "initials": 1}
TIERS = ("live", "scraper", "generator", "initials")
# Health is kept per provider; the generator tier has the services and the local identicon.
PROVIDERS = ("live", "scraper", "generator", "local_generator", "initials")


@dataclass(frozen=True)
class AvatarResult:
    source: str
    nickname: str
    avatar_url: str | None
    image: ValidImage
    exists: bool = True

    @property
    def priority(self) -> int:
        return PRIORITY[self.source]


@dataclass
class ProviderHealth:
    """Measured outcomes of one provider (this replica, since it started)."""

    name: str
    clock: Clock
    attempts: int = 0
    successes: int = 0
    failures: int = 0
    skipped: int = 0
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    latencies_ms: list[float] = field(default_factory=list)

    def success(self, started: float) -> None:
        self.attempts += 1
        self.successes += 1
        self.last_success = self.clock.now()
        self._latency(started)

    def failure(self, started: float, error: str) -> None:
        self.attempts += 1
        self.failures += 1
        self.last_failure = self.clock.now()
        self.last_error = error[:300]
        self._latency(started)

    def _latency(self, started: float) -> None:
        self.latencies_ms.append(round((time.perf_counter() - started) * 1000, 2))
        del self.latencies_ms[:-100]

    def snapshot(self) -> dict[str, Any]:
        rate = self.successes / self.attempts if self.attempts else None
        if not self.attempts:
            status = "unused"
        elif rate is not None and rate >= 0.8:
            status = "healthy"
        elif rate is not None and rate >= 0.3:
            status = "degraded"
        else:
            status = "unhealthy"
        latencies = self.latencies_ms
        return {
            "status": status,
            "success_rate": round(rate, 3) if rate is not None else None,
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": self.failures,
            "last_success": iso(self.last_success),
            "last_failure": iso(self.last_failure),
            "last_error": self.last_error,
            "avg_latency_ms": round(sum(latencies) / len(latencies), 2) if latencies else None,
        }


class ProviderFailed(Exception):
    pass


class AvatarResolver:
    """Runs the tiers; one instance per process (it holds the health figures)."""

    def __init__(self, settings: ProfileSettings, fetcher: SafeFetcher, clock: Clock) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.health = {name: ProviderHealth(name, clock) for name in PROVIDERS}

    def providers_available(self) -> int:
        count = 2  # live (fed by comments) and initials are always there
        count += 1 if self.settings.scraper_url_template else 0
        return count + 1  # the generator tier always answers (its local identicon)

    async def resolve(
        self, username: str, *, live_avatar_url: str | None = None, nickname: str | None = None
    ) -> AvatarResult:
        if live_avatar_url:
            result = await self._attempt("live", self._live(username, live_avatar_url, nickname))
            if result is not None:
                return result
        if self.settings.scraper_url_template:
            try:
                result = await self._attempt("scraper", self._scrape(username, nickname))
            except PageSaysNoSuchUser:
                return AvatarResult(
                    source="initials",
                    nickname=nickname or username,
                    avatar_url=None,
                    image=self._initials(username, nickname),
                    exists=False,
                )
            if result is not None:
                return result
        result = await self._generate(username, nickname)
        if result is not None:
            return result
        return AvatarResult(
            source="initials",
            nickname=nickname or username,
            avatar_url=None,
            image=self._initials(username, nickname),
        )

    def _initials(self, username: str, nickname: str | None) -> ValidImage:
        started = time.perf_counter()
        image = initials_svg(username, nickname)
        self.health["initials"].success(started)
        return image

    async def _attempt(self, name: str, work: Any) -> AvatarResult | None:
        started = time.perf_counter()
        try:
            result: AvatarResult = await work
        except PageSaysNoSuchUser:
            self.health[name].success(started)  # the provider answered: no such user
            raise
        except (ProviderFailed, FetchFailed, FetchRefused, InvalidImage) as exc:
            self.health[name].failure(started, f"{type(exc).__name__}: {exc}")
            log.info("avatar_provider_failed", provider=name, error=str(exc))
            return None
        except Exception as exc:  # a provider bug must not break the chain
            self.health[name].failure(started, f"{type(exc).__name__}: {exc}")
            log.warning("avatar_provider_crashed", provider=name, exc_info=exc)
            return None
        self.health[name].success(started)
        return result

    async def _image(
        self, url: str, timeout: float, headers: dict[str, str] | None = None
    ) -> ValidImage:
        fetched = await self.fetcher.get(
            url, max_bytes=self.settings.avatar_max_bytes, timeout=timeout, headers=headers
        )
        if fetched.status != 200:
            raise ProviderFailed(f"image answered HTTP {fetched.status}")
        if fetched.content_type and not fetched.content_type.startswith("image/"):
            raise ProviderFailed(f"image answered Content-Type {fetched.content_type}")
        return await asyncio.to_thread(
            validate_image,
            fetched.body,
            min_bytes=self.settings.avatar_min_size_bytes,
            max_bytes=self.settings.avatar_max_bytes,
            max_pixels=self.settings.image_max_pixels,
        )

    async def _live(self, username: str, url: str, nickname: str | None) -> AvatarResult:
        image = await self._image(url, self.settings.live_avatar_timeout)
        return AvatarResult("live", nickname or username, url, image)

    async def _scrape(self, username: str, nickname: str | None) -> AvatarResult:
        template = self.settings.scraper_url_template
        assert template is not None
        page_url = template.format(username=quote(username, safe=""))
        agents: Sequence[str] = self.settings.scraper_user_agents or ["Mozilla/5.0"]
        last_error = "no attempt"
        for attempt in range(self.settings.scraper_attempts):
            if attempt:
                delay = self.settings.scraper_retry_base_seconds * 2 ** (attempt - 1)
                await asyncio.sleep(random.uniform(delay / 2, delay))
            headers = {
                "User-Agent": agents[attempt % len(agents)],
                "Accept": "text/html,application/xhtml+xml",
                "Accept-Language": "en-US,en;q=0.9",
            }
            try:
                page = await self.fetcher.get(
                    page_url,
                    max_bytes=self.settings.page_max_bytes,
                    timeout=self.settings.scraper_timeout,
                    headers=headers,
                )
            except FetchFailed as exc:
                last_error = str(exc)
                continue
            if page.status == 404:
                found = parse_profile_page(page.body.decode("utf-8", "replace"), username)
                raise ProviderFailed(f"profile page answered 404 ({found})")
            if page.status in (429, 500, 502, 503, 504):
                last_error = f"profile page answered HTTP {page.status}"
                continue
            if page.status != 200:
                raise ProviderFailed(f"profile page answered HTTP {page.status}")
            if page.content_type and "html" not in page.content_type:
                raise ProviderFailed(f"profile page is {page.content_type}, not HTML")
            found = parse_profile_page(page.body.decode("utf-8", "replace"), username)
            if found is None or not found.avatar_url:
                raise ProviderFailed("no avatar on the profile page")
            if found.unique_id and found.unique_id != username:
                raise ProviderFailed(f"the page is @{found.unique_id}'s, not @{username}'s")
            # A relative src is resolved against the page; the image host is checked again.
            image_url = str(URL(page.url).join(URL(found.avatar_url)))
            image = await self._image(
                image_url, self.settings.scraper_timeout, {"User-Agent": headers["User-Agent"]}
            )
            return AvatarResult("scraper", found.nickname or nickname or username, image_url, image)
        raise ProviderFailed(last_error)

    async def _generate(self, username: str, nickname: str | None) -> AvatarResult | None:
        """The first generator service that answers an image, else the local identicon."""
        for template in self.settings.generator_url_templates or []:
            url = template.format(username=quote(username, safe=""))
            result = await self._attempt("generator", self._generated(url, username, nickname))
            if result is not None:
                return result
        return await self._attempt("local_generator", self._identicon(username, nickname))

    async def _generated(self, url: str, username: str, nickname: str | None) -> AvatarResult:
        image = await self._image(url, self.settings.generator_timeout)
        return AvatarResult("generator", nickname or username, url, image)

    async def _identicon(self, username: str, nickname: str | None) -> AvatarResult:
        return AvatarResult("generator", nickname or username, None, identicon_svg(username))
