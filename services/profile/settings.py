"""Settings of the profile service (env prefix ``PROFILE_``).

Outgoing requests go only to the hosts these settings name: the scraper's page
template, the generator templates, the image hosts and the TikTok LIVE URLs.

Some defaults depend on ``QUARRY_ENV`` (a field left unset gets them):

========================== ======================= ===================== ======================
field                      production              development (make up) test
========================== ======================= ===================== ======================
``scraper_url_template``   tiktok.com profile page same                  none (no outgoing call)
``generator_url_templates`` DiceBear, boring avatars same                 none
``live_source``            ``tiktok``              ``replay``            ``replay``
``live_replay_prefix``     none                    ``replay_``           ``replay_``
========================== ======================= ===================== ======================

The tests configure local fake servers explicitly; ``make up`` shows a live demo with
the replay source (any username, e.g. ``test_user``, plays a generated comment stream).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, model_validator

from shared.settings import CommonSettings, Environment, service_config

DAY = 86_400
TIKTOK_PROFILE = "https://www.tiktok.com/@{username}"
DICEBEAR_GENERATORS = [
    "https://api.dicebear.com/7.x/adventurer/svg?seed={username}",
    "https://api.dicebear.com/7.x/personas/svg?seed={username}",
    "https://api.dicebear.com/7.x/identicon/svg?seed={username}",
    "https://source.boringavatars.com/beam/120/{username}?colors=264653,2a9d8f,e9c46a,f4a261,e76f51",
]
# Where TikTok serves profile pictures (the scraper's and the live tier's images).
TIKTOK_IMAGE_HOSTS = [
    "*.tiktokcdn.com",
    "*.tiktokcdn-us.com",
    "*.tiktokcdn-eu.com",
    "*.ibyteimg.com",
    "*.muscdn.com",
]
LiveSourceName = Literal["tiktok", "replay"]


class ProfileSettings(CommonSettings):
    """Settings of the profile service (env prefix ``PROFILE_``)."""

    model_config = service_config("PROFILE_")

    host: str = "127.0.0.1"
    port: int = 8104
    # Prefix of every Redis key and channel of this service (two deployments sharing one
    # Redis, as the tests' own profile stack does, stay apart).
    redis_namespace: str = "quarry:profile"

    # --- avatars: providers (None = the environment's default, see the module doc) ---
    scraper_url_template: str | None = None
    scraper_user_agents: list[str] = Field(
        default_factory=lambda: [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/17.4 Safari/605.1.15",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        ]
    )
    scraper_attempts: int = Field(3, ge=1, le=6)
    scraper_retry_base_seconds: float = Field(0.5, ge=0)
    generator_url_templates: list[str] | None = None
    # Hosts avatar images may come from (scraped pages' and live comments' URLs), as
    # "host", "host:port" or "*.domain". The scraper's and generators' own hosts are added.
    image_hosts: list[str] = Field(default_factory=lambda: list(TIKTOK_IMAGE_HOSTS))
    # The spec's timeouts (seconds) and size limits.
    scraper_timeout: float = Field(
        15.0,
        gt=0,
        validation_alias=AliasChoices("AVATAR_SCRAPER_TIMEOUT", "PROFILE_SCRAPER_TIMEOUT"),
    )
    generator_timeout: float = Field(
        5.0,
        gt=0,
        validation_alias=AliasChoices("AVATAR_GENERATOR_TIMEOUT", "PROFILE_GENERATOR_TIMEOUT"),
    )
    live_avatar_timeout: float = Field(
        10.0,
        gt=0,
        validation_alias=AliasChoices("AVATAR_LIVE_TIMEOUT", "PROFILE_LIVE_AVATAR_TIMEOUT"),
    )
    avatar_max_size_mb: float = Field(
        5.0, gt=0, validation_alias=AliasChoices("AVATAR_MAX_SIZE_MB", "PROFILE_AVATAR_MAX_SIZE_MB")
    )
    avatar_min_size_bytes: int = Field(100, ge=1)
    page_max_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(3, ge=0, le=10)
    image_max_pixels: int = Field(25_000_000, ge=1)

    # --- avatars: cache ---
    ttl_live_seconds: int = Field(7 * DAY, ge=1)
    ttl_scraper_seconds: int = Field(DAY, ge=1)
    ttl_generator_seconds: int = Field(30 * DAY, ge=1)
    ttl_initials_seconds: int = Field(365 * DAY, ge=1)
    # A user whose page says they do not exist is asked about again after this long.
    ttl_nonexistent_seconds: int = Field(DAY, ge=1)
    cache_max_entries: int = Field(
        2000,
        ge=0,
        validation_alias=AliasChoices("AVATAR_CACHE_MAX_SIZE", "PROFILE_CACHE_MAX_ENTRIES"),
    )
    cache_max_memory_mb: float = Field(
        200.0,
        ge=0,
        validation_alias=AliasChoices("AVATAR_CACHE_MAX_MEMORY_MB", "PROFILE_CACHE_MAX_MEMORY_MB"),
    )
    revalidate_concurrency: int = Field(4, ge=1, le=64)
    revalidate_max_usernames: int = Field(100, ge=1, le=1000)

    # --- live ---
    live_source: LiveSourceName | None = None
    live_replay_prefix: str | None = None
    # Recorded streams for the replay source (JSON lines; see services/profile/replays/).
    live_replay_dir: str | None = None
    live_replay_rate: float = Field(2.0, gt=0, le=10_000)  # generated comments per second
    live_replay_comment_bytes: int = Field(0, ge=0, le=65_536)  # pad generated comments
    # TikTok LIVE (the TikTokLive library): where it signs and where TikTok answers.
    tiktok_sign_url: str = "https://api.eulerstream.com"
    tiktok_sign_api_key: str | None = None
    tiktok_app_url: str = "https://www.tiktok.com"
    tiktok_webcast_url: str = "https://webcast.tiktok.com/webcast"
    # The push WebSocket (normally given by the sign server).
    tiktok_push_url: str | None = None
    live_connect_timeout: float = Field(20.0, gt=0)
    # New upstream connections per minute, shared by every replica (the sign server allows
    # about 5 a minute per IP).
    live_connects_per_minute: int = Field(5, ge=1)
    # After a failed connect to a streamer, /connect answers 429 for this long.
    live_failure_cooldown_seconds: float = Field(30.0, ge=0)
    # A live stream silent this long is checked (and reconnected when still live).
    live_silence_seconds: float = Field(60.0, gt=0)
    live_reconnect_base_seconds: float = Field(1.0, gt=0)
    live_reconnect_max_seconds: float = Field(60.0, gt=0)
    live_reconnect_attempts: int = Field(8, ge=0)
    # Who holds a streamer's upstream connection (a Redis lease renewed by its holder).
    live_lease_seconds: float = Field(15.0, gt=1)
    live_reconcile_seconds: float = Field(5.0, gt=0)
    # Comments are written (and published) in batches of at most this many, at least this
    # often. A batch reaches each subscriber in one write (shared.websocket_writes), so a
    # longer window costs latency (up to the window) and saves CPU per delivery.
    live_batch_size: int = Field(200, ge=1)
    live_batch_seconds: float = Field(0.02, gt=0)
    live_comment_retention_days: int = Field(30, ge=1)

    # --- WebSocket ---
    ws_queue_size: int = Field(1000, ge=1)
    ws_replay_count: int = Field(20, ge=0, le=1000)
    ws_replay_max: int = Field(1000, ge=1, le=10_000)
    ws_send_timeout: float = Field(10.0, gt=0)
    # How often each replica publishes its subscriber counts (for /status across replicas).
    presence_seconds: float = Field(5.0, gt=0)

    @property
    def avatar_max_bytes(self) -> int:
        return int(self.avatar_max_size_mb * 1024 * 1024)

    def ttl_for(self, source: str) -> int:
        return {
            "live": self.ttl_live_seconds,
            "scraper": self.ttl_scraper_seconds,
            "generator": self.ttl_generator_seconds,
            "initials": self.ttl_initials_seconds,
        }[source]

    @model_validator(mode="after")
    def _environment_defaults(self) -> ProfileSettings:
        env = self.environment
        outgoing = env is not Environment.TEST
        if self.scraper_url_template is None and outgoing:
            self.scraper_url_template = TIKTOK_PROFILE
        if self.generator_url_templates is None:
            self.generator_url_templates = list(DICEBEAR_GENERATORS) if outgoing else []
        if self.live_source is None:
            self.live_source = "tiktok" if env is Environment.PRODUCTION else "replay"
        if self.live_replay_prefix is None:
            self.live_replay_prefix = "" if env is Environment.PRODUCTION else "replay_"
        for template in [self.scraper_url_template, *self.generator_url_templates]:
            if template and "{username}" not in template:
                raise ValueError(f"provider URL template {template!r} lacks '{{username}}'")
        return self
