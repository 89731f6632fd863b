"""Builds the compact geolocation index from the GeoLite2 data ``geoip2fast`` ships.

``geoip2fast`` keeps its database as Python lists of ints (about 790k networks twice:
country and ASN), 117 MB resident and 2 s to load here: too much for a service whose
export path must stay under 200 MB. This module reads the same data once, in a child
process (``python -m services.analysis.service.geo_build DATA OUT``), and writes it as
flat NumPy arrays (network starts, prefix lengths, name ids: about 17 MB) that the
service memory-maps (:mod:`services.analysis.service.geo`): pages are shared, read
only when touched, and cost nothing to load.

The data file is the pickle ``geoip2fast`` itself loads (format version 120: chunked
lists of first addresses, prefix lengths and name ids, IPv4 and IPv6 in one integer
space). It belongs to the installed package, so it is trusted like the package's code;
anything but that exact layout is refused, and the service then runs without
geolocation (fields null) and says so on ``/health``.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import sys
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_VERSION = 120
V4_LIMIT = 1 << 32
LOW_MASK = (1 << 64) - 1
# geoip2fast's country list starts with its special ranges (private, reserved, ...),
# then "99:<not found in database>", then the countries.
SPECIAL_COUNTRY_IDS = 16
FORMAT = 1


def _flat(chunks: list[list[int]]) -> list[int]:
    return list(chain.from_iterable(chunks))


def _split(
    starts: list[int], netlens: list[int], ids: list[int], id_type: type[np.unsignedinteger[Any]]
) -> dict[str, np.ndarray[Any, Any]]:
    """The v4 and v6 parts of one table as arrays (starts sorted ascending)."""
    cut = next((i for i, start in enumerate(starts) if start >= V4_LIMIT), len(starts))
    v6 = starts[cut:]
    return {
        "v4_start": np.array(starts[:cut], dtype=np.uint32),
        "v4_netlen": np.array(netlens[:cut], dtype=np.uint8),
        "v4_id": np.array(ids[:cut], dtype=id_type),
        "v6_hi": np.array([s >> 64 for s in v6], dtype=np.uint64),
        "v6_lo": np.array([s & LOW_MASK for s in v6], dtype=np.uint64),
        "v6_netlen": np.array(netlens[cut:], dtype=np.uint8),
        "v6_id": np.array(ids[cut:], dtype=id_type),
    }


def build(data_file: Path, out_dir: Path) -> dict[str, Any]:
    """Write the index of ``data_file`` into ``out_dir`` (created); its metadata."""
    with gzip.open(data_file, "rb") as handle:
        version, source, total, database = pickle.load(handle)  # noqa: S301 - see above
    if version != SUPPORTED_VERSION or not isinstance(source, dict):
        raise ValueError(f"unsupported geoip2fast data version {version!r}")
    if not (source.get("country") and source.get("asn")) or source.get("city"):
        raise ValueError("the data file must hold country and ASN data (and no city data)")
    (
        _index,
        _index_asn,
        country_names,
        asn_names,
        first_ip,
        first_ip_asn,
        country_ids,
        asn_ids,
        netlen,
        netlen_asn,
    ) = database
    countries = _split(_flat(first_ip), _flat(netlen), _flat(country_ids), np.uint16)
    asns = _split(_flat(first_ip_asn), _flat(netlen_asn), _flat(asn_ids), np.uint32)
    out_dir.mkdir(parents=True, exist_ok=True)
    for prefix, table in (("country", countries), ("asn", asns)):
        for name, array in table.items():
            np.save(out_dir / f"{prefix}_{name}.npy", array, allow_pickle=False)
    names = []
    for item in country_names:
        code, _, name = str(item).partition(":")
        names.append([code, name])
    meta = {
        "format": FORMAT,
        "source": str(source.get("info", "")),
        "networks": int(total),
        "countries": names,
        "special_country_ids": SPECIAL_COUNTRY_IDS,
        "asn_names": [str(name) for name in asn_names],
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return {"source": meta["source"], "networks": meta["networks"]}


def build_atomically(data_file: Path, target: Path) -> None:
    """Build into a scratch directory beside ``target``, then rename it into place (a
    concurrent builder that got there first wins; ours is discarded)."""
    scratch = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        build(data_file, scratch)
        try:
            scratch.rename(target)
        except OSError:
            if not (target / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    build_atomically(Path(sys.argv[1]), Path(sys.argv[2]))
