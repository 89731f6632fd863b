"""Why a dataset is refused: a reason a person can act on."""

from __future__ import annotations


class DatasetRefused(ValueError):
    """The file is not a dataset Quarry can read, or breaks a limit.

    ``code`` is stable snake_case (``not_a_workbook``, ``too_many_rows``, ...);
    ``reason`` is the sentence shown to the person who uploaded the file.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
