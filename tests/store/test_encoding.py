"""Laws of the attachment encoding functions (``store.encoding``), and CouchDB's type rule.

Byte-for-byte agreement of our gzip with CouchDB's is checked against the real server in
``tests/http_api/test_attachment_encoding.py``; here: round trips, exact lengths, refusal of
anything that is not one whole gzip stream, and ``compressible_types`` matching as
``couch_util:compressible_att_type`` does.
"""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.store.encoding import (
    DEFAULT_ENCODING,
    AttachmentEncoding,
    gunzip_bytes,
    gzip_bytes,
    gzip_length,
)

levels = st.integers(min_value=1, max_value=9)
payloads = st.binary(max_size=4096) | st.text(max_size=2000).map(str.encode)


@given(payloads, levels)
def test_gzip_round_trips_and_measures_exactly(data: bytes, level: int) -> None:
    gz = gzip_bytes(data, level)
    assert gunzip_bytes(gz) == data
    assert gzip_length(gz) == len(data)
    assert gzip.decompress(gz) == data  # a standard gzip member, readable by anyone


@given(payloads, levels)
def test_gzip_is_deterministic(data: bytes, level: int) -> None:
    # Same input, same bytes: the digest of a stored attachment depends on nothing else.
    assert gzip_bytes(data, level) == gzip_bytes(data, level)


@given(payloads, st.data())
def test_a_cut_gzip_stream_is_refused(data: bytes, draw: st.DataObject) -> None:
    gz = gzip_bytes(data, 8)
    cut = draw.draw(st.integers(min_value=0, max_value=len(gz) - 1))
    with pytest.raises(ValueError):
        gzip_length(gz[:cut])


@given(payloads, st.binary(min_size=1, max_size=16))
def test_bytes_after_the_gzip_stream_are_refused(data: bytes, tail: bytes) -> None:
    with pytest.raises(ValueError):
        gzip_length(gzip_bytes(data, 8) + tail)


def test_a_large_stream_is_measured_past_the_inflate_step() -> None:
    data = b"\x00" * (5 * 1024 * 1024 + 17)
    assert gzip_length(gzip_bytes(data, 8)) == len(data)


def test_a_raw_deflate_stream_is_not_gzip() -> None:
    with pytest.raises(ValueError):
        gzip_length(zlib.compress(b"hello" * 100))


@pytest.mark.parametrize(
    ("content_type", "compressed"),
    [
        ("text/plain", True),
        ("text/html; charset=utf-8", True),
        ("TEXT/PLAIN", True),
        ("  text/css ", True),
        ("application/json", True),
        ("application/json;charset=utf-8", True),
        ("application/javascript", True),
        ("application/xml", True),
        ("application/jsonp", False),
        ("image/png", False),
        ("application/octet-stream", False),
        ("textual/plain", False),
        ("", False),
    ],
)
def test_couchdbs_default_compressible_types(content_type: str, compressed: bool) -> None:
    assert DEFAULT_ENCODING.compresses(content_type) is compressed


def test_custom_patterns_and_level_zero() -> None:
    images = AttachmentEncoding("image/*, application/x-thing", 6)
    assert images.compresses("image/png")
    assert images.compresses("application/x-thing")
    assert not images.compresses("text/plain")
    assert not AttachmentEncoding(compression_level=0).compresses("text/plain")
    assert not AttachmentEncoding(compressible_types="").compresses("text/plain")


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz/-+.", min_size=1, max_size=20))
def test_a_pattern_matches_its_own_type_with_parameters(content_type: str) -> None:
    encoding = AttachmentEncoding(content_type, 8)
    assert encoding.compresses(content_type)
    assert encoding.compresses(content_type.upper() + "; charset=utf-8")
