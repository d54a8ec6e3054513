from __future__ import annotations

import gc
import re
import secrets

import pytest

from airflow_aimlapi.exceptions import _SCAN_LIMIT, REDACTED, SECRET_PIECE, scrub

SECRET = "sk-proto-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_scrub_removes_the_whole_key_and_any_ten_character_piece() -> None:
    text = f"a {SECRET} b {SECRET[:10]} c {SECRET[7:25]} d {SECRET[-12:]} e"
    assert scrub(text, secret=SECRET) == "a *** b *** c *** d *** e"


def test_scrub_keeps_pieces_shorter_than_ten_and_other_text() -> None:
    text = f"requestId {SECRET[:9]}-other"
    assert scrub(text, secret=SECRET) == text


def test_scrub_redacts_first_then_folds_white_space_then_cuts() -> None:
    text = "x" * 20 + SECRET + "\n\n  tail"
    assert scrub(text, secret=SECRET, limit=30) == "x" * 20 + REDACTED + " tail"
    assert scrub(text, secret=SECRET, limit=10) == "x" * 7 + "..."
    assert scrub("  a\t b  ", limit=None) == "a b"


def test_scrub_of_a_short_key_replaces_it_whole() -> None:
    assert scrub("key abc123 here", secret="abc123") == f"key {REDACTED} here"


class _Watched(str):
    """A text that records how it is read: scrub() may only slice its start, nothing else."""

    reads: list[object]

    def __getitem__(self, index: object) -> str:  # type: ignore[override,unused-ignore]
        self.reads.append(index)
        return str.__getitem__(self, index)  # type: ignore[index]


def test_scrub_reads_only_the_start_of_a_huge_body() -> None:
    # What keeps scrub cheap on any body, checked without a clock: it reads only a slice of
    # _SCAN_LIMIT characters, so its work does not grow with the body.
    huge = _Watched("y" * 5_000_000 + SECRET)
    huge.reads = []
    assert scrub(huge, secret=SECRET, limit=50) == "y" * 47 + "..."
    assert huge.reads == [slice(None, _SCAN_LIMIT, None)]


def test_scrub_keeps_no_key_alive_in_a_cache() -> None:
    # A cache of compiled patterns (each spelling the key) would keep the keys it saw alive.
    key = "sk-" + secrets.token_hex(16)
    assert scrub(f"echo {key} echo", secret=key) == f"echo {REDACTED} echo"
    gc.collect()
    piece = key[3 : 3 + SECRET_PIECE]
    # type(), not isinstance(): isinstance reads __class__, which some of Airflow's lazy objects
    # turn into an import (Airflow 3.0: cloudpickle).
    holding = [obj for obj in gc.get_objects() if type(obj) is re.Pattern and piece in str(obj.pattern)]
    assert not holding


@pytest.mark.parametrize(
    "text",
    [
        "Invalid connection string: aimlapi://:sk-live-0123456789@api.aimlapi.com/",
        "proxy https://bob:sk-live-0123456789@proxy.internal:8080/ refused",
    ],
)
def test_scrub_removes_url_credentials_even_without_a_known_key(text: str) -> None:
    out = scrub(text)
    assert "sk-live-0123456789" not in out
    assert f"://{REDACTED}@" in out
    assert scrub("https://api.aimlapi.com/v2/billing?to=a@b") == "https://api.aimlapi.com/v2/billing?to=a@b"
