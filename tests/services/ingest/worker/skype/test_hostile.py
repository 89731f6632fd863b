"""Every bad upload of issue 9 is refused with InvalidExport and a human reason, and never
anything else; the big ones within bounded memory (measured in a separate process)."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from samples import skype_hostile as hostile
from services.ingest.worker.skype import (
    InvalidExport,
    ParseLimits,
    open_messages_json,
    parse_export,
)

ROOT = Path(__file__).resolve().parents[5]

# Expected words of each reason: what a user must be told.
REASONS = {
    "truncated_json": "truncated",
    "truncated_tar": "truncated",
    "not_skype_json": "not a Skype export",
    "json_list": "list, not a Skype export",
    "wrong_types": "not a list",
    "not_json": "neither a .tar archive nor JSON",
    "empty": "empty",
    "zip": "ZIP archive",
    "utf16": "UTF-16",
    "invalid_utf8": "not valid UTF-8",
    "deep_nesting": "nested more than",
    "deep_nesting_root": "nested more than",
    "huge_string": "larger than 4 MB",
    "huge_escaped_string": "larger than 4 MB",
    "many_fields": "more than 100000 fields",
    "long_list": "more than 100000 items",
    "huge_number": "larger than 4 MB",
    "trailing_garbage": "after the end",
    "wrong_member_names": "no messages.json",
    "traversal_tar": "'..'",
    "traversal_inner_tar": "'..'",
    "absolute_tar": "absolute member path",
    "symlink_tar": "symbolic link",
    "hardlink_tar": "hard link",
    "device_tar": "character device",
    "fifo_tar": "FIFO",
    "duplicate_messages_tar": "two messages.json",
    "huge_pax_header": "extended header",
    "many_members_tar": "more than 100 members",
    "corrupt_tar_checksum": "corrupt",
    "gzip_bomb": "larger than 4 MB|decompression bomb",
    "tar_bomb": "decompression bomb",
    "nested_gzip": "compressed twice",
    "corrupt_gzip": "corrupt|not valid JSON",
    "zlib_not_gzip": "neither a .tar archive nor JSON",
}
# Smaller instances of the big cases for the in-process test (the full sizes run below).
SMALL = {
    "huge_string": partial(hostile.write_huge_string, size=16 * hostile.MIB),
    "huge_escaped_string": partial(hostile.write_huge_escaped_string, size=8 * hostile.MIB),
    "huge_number": partial(hostile.write_huge_number, digits=8 * hostile.MIB),
    "gzip_bomb": partial(hostile.write_gzip_bomb, expanded=64 * hostile.MIB),
    "tar_bomb": partial(hostile.write_tar_bomb, expanded=64 * hostile.MIB),
    "many_members_tar": partial(hostile.write_many_members_tar, members=150),
}
LIMITS = ParseLimits(max_tar_members=100)


def test_every_case_has_an_expected_reason() -> None:
    assert set(REASONS) == set(hostile.HOSTILE)


@pytest.mark.parametrize("case", sorted(hostile.HOSTILE))
def test_a_hostile_upload_is_refused_with_a_reason(case: str, tmp_path: Path) -> None:
    path = SMALL.get(case, hostile.HOSTILE[case])(tmp_path / case)
    with pytest.raises(InvalidExport, match=REASONS[case]) as caught:
        _read_all(path)
    reason = caught.value.reason
    assert reason[0].isupper()
    assert reason.endswith((".", "?"))
    assert "Traceback" not in reason
    assert len(reason) < 300


def _read_all(path: Path) -> None:
    with open_messages_json(path, LIMITS) as stream:
        for _ in parse_export(stream, LIMITS).messages():
            pass


MEASURE = r"""
import json, re, sys
from pathlib import Path
from samples import skype_hostile as hostile
from services.ingest.worker.skype import InvalidExport, open_messages_json, parse_export
out = {}
directory = Path(sys.argv[1])
for case in sys.argv[2:]:
    path = hostile.HOSTILE[case](directory / case)
    try:
        with open_messages_json(path) as stream:
            for _ in parse_export(stream).messages():
                pass
        out[case] = "accepted"
    except InvalidExport as exc:
        out[case] = exc.reason
    path.unlink()
# VmHWM: the peak of this address space (ru_maxrss would include the parent's peak
# before exec, which Linux carries over).
status = Path("/proc/self/status").read_text()
out["peak_rss_mb"] = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
print(json.dumps(out))
"""


@pytest.mark.slow
def test_the_big_cases_at_full_size_stay_within_bounded_memory(tmp_path: Path) -> None:
    """A 200 MB string, 1 GiB gzip and tar bombs, 100k-deep nesting, 300k fields: all
    refused by one process whose peak RSS stays far below what reading them would take."""
    cases = [
        "huge_string", "gzip_bomb", "tar_bomb", "deep_nesting", "deep_nesting_root",
        "many_fields", "long_list", "huge_escaped_string", "huge_pax_header",
    ]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path), *cases],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for case in cases:
        assert report[case] != "accepted", case
    assert report["peak_rss_mb"] < 160, report
