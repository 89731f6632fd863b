"""Offline geolocation: the index built from geoip2fast's GeoLite2 data, address classes,
the operator heuristic, the cache, and a missing data file."""

from __future__ import annotations

import gzip
import pickle
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from samples.chats import ADDRESSES, Address
from services.analysis.service.geo import NO_GEO, GeoLocator, data_file, parse_address
from services.analysis.service.ip_types import address_class, operator_type


@pytest_asyncio.fixture(scope="module")
async def locator(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[GeoLocator]:
    geo = GeoLocator(tmp_path_factory.mktemp("geo-cache"))
    await geo.start()
    assert geo.status()["state"] == "ready", geo.status()
    yield geo
    geo.close()


@pytest.mark.parametrize("address", ADDRESSES, ids=lambda a: a.ip)
async def test_the_sample_addresses_resolve_as_the_samples_say(
    locator: GeoLocator, address: Address
) -> None:
    geo = locator.locate(address.ip)
    assert (geo.country_code, geo.country, geo.isp, geo.ip_type) == (
        address.country_code,
        address.country,
        address.isp,
        address.ip_type,
    )
    assert geo.organization == geo.isp


async def test_what_is_not_known_stays_null(locator: GeoLocator) -> None:
    for value in (None, "", "not-an-ip", "999.1.1.1", "1.2.3"):
        assert locator.locate(value) == NO_GEO
    # An IPv4-mapped IPv6 address is its IPv4 address.
    assert locator.locate("::ffff:8.8.8.8") == locator.locate("8.8.8.8")
    assert locator.locate("8.8.8.8").country_code == "US"
    status = locator.status()
    assert status["source"].startswith("MAXMIND:GeoLite2")
    assert "GeoLite2 data created by MaxMind" in status["attribution"]


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.0.0.1", "Private"),
        ("172.16.5.4", "Private"),
        ("192.168.0.1", "Private"),
        ("100.64.0.1", "Private"),
        ("127.0.0.1", "Private"),
        ("169.254.1.1", "Private"),
        ("::1", "Private"),
        ("fe80::1", "Private"),
        ("fd00::1", "Private"),
        ("192.0.2.1", "Reserved"),
        ("198.51.100.7", "Reserved"),
        ("203.0.113.5", "Reserved"),
        ("2001:db8::1", "Reserved"),
        ("224.0.0.1", "Reserved"),
        ("0.0.0.0", "Reserved"),
        ("8.8.8.8", None),
        ("2a00:1450:4001::1", None),
    ],
)
def test_address_classes(ip: str, kind: str | None) -> None:
    address = parse_address(ip)
    assert address is not None
    assert address_class(address) == kind


@pytest.mark.parametrize(
    ("organisation", "kind"),
    [
        ("AMAZON-02", "Datacenter"),
        ("DIGITALOCEAN-ASN", "Datacenter"),
        ("Hetzner Online GmbH", "Datacenter"),
        ("OVH SAS", "Datacenter"),
        ("Some Hosting Company Ltd", "Datacenter"),
        ("GOOGLE-FIBER", "Residential"),
        ("T-MOBILE-AS21928", "Mobile"),
        ("ATT-MOBILITY-LLC-AS20057", "Mobile"),
        ("CELLCO-PART", "Mobile"),
        ("COMCAST-7922", "Residential"),
        ("Deutsche Telekom AG", "Residential"),
        (None, None),
        ("", None),
    ],
)
def test_operator_heuristic(organisation: str | None, kind: str | None) -> None:
    assert operator_type(organisation) == kind


async def test_the_index_is_built_once_per_data_version(tmp_path: Path) -> None:
    first = GeoLocator(tmp_path)
    await first.start()
    built = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(built) == 1
    stamp = (built[0] / "meta.json").stat().st_mtime_ns
    second = GeoLocator(tmp_path)
    await second.start()
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == built
    assert (built[0] / "meta.json").stat().st_mtime_ns == stamp
    assert second.locate("81.2.69.142").country_code == "GB"


async def test_an_unusable_data_file_leaves_geolocation_off(tmp_path: Path) -> None:
    bogus = tmp_path / "geoip2fast-asn-ipv6.dat.gz"
    with gzip.open(bogus, "wb") as handle:
        pickle.dump((999, {}, 0, ()), handle)
    geo = GeoLocator(tmp_path / "cache", source_file=bogus)
    await geo.start()
    status = geo.status()
    assert status["state"] == "unavailable"
    assert "unsupported geoip2fast data version" in status["error"]
    # The address class is still known; nothing else is invented.
    assert geo.locate("192.168.1.1").ip_type == "Private"
    assert geo.locate("8.8.8.8") == NO_GEO


def test_the_data_file_ships_with_the_package() -> None:
    path = data_file()
    assert path is not None
    assert path.stat().st_size > 1_000_000
