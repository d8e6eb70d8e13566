"""Key files and the environment variable: what loads, what is refused, and how it is said."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from brainlink_docs.credentials import (
    CredentialError,
    Key,
    generate_key_file,
    key_from_env,
    load_key_file,
)
from brainlink_docs.credentials.keys import ENV_VAR

MATERIAL = bytes(range(100, 132))


def test_the_kid_is_the_first_16_hex_digits_of_the_key_s_sha256() -> None:
    key = Key(MATERIAL)
    assert key.kid == hashlib.sha256(MATERIAL).hexdigest()[:16]
    assert Key(bytes(32)).kid != key.kid


def test_a_key_file_holds_raw_bytes_or_base64_text(tmp_path: Path) -> None:
    raw, text = tmp_path / "raw.key", tmp_path / "text.key"
    raw.write_bytes(MATERIAL)
    text.write_text(base64.b64encode(MATERIAL).decode() + "\n")
    assert load_key_file(raw) == load_key_file(text) == Key(MATERIAL)


def test_the_environment_variable_holds_base64() -> None:
    env = {ENV_VAR: base64.b64encode(MATERIAL).decode()}
    assert key_from_env(env) == Key(MATERIAL)


def test_a_missing_variable_says_what_to_set() -> None:
    with pytest.raises(CredentialError, match=ENV_VAR):
        key_from_env({})


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_a_key_of_the_wrong_length_is_refused_by_its_length(tmp_path: Path, size: int) -> None:
    path = tmp_path / "short.key"
    path.write_text(base64.b64encode(bytes(size)).decode())
    with pytest.raises(CredentialError, match=f"bad key length: {size} bytes"):
        load_key_file(path)
    with pytest.raises(CredentialError, match=f"bad key length: {size} bytes"):
        key_from_env({ENV_VAR: base64.b64encode(bytes(size)).decode()})


def test_32_characters_of_base64_are_a_short_key_not_raw_bytes(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(base64.b64encode(bytes(24)))  # exactly 32 bytes of text
    with pytest.raises(CredentialError, match="bad key length: 24 bytes"):
        load_key_file(path)


def test_other_binary_lengths_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.key"
    path.write_bytes(bytes(range(200, 231)))  # 31 raw bytes
    with pytest.raises(CredentialError, match="neither 32 raw bytes nor base64 text"):
        load_key_file(path)


def test_text_that_is_not_base64_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.key"
    path.write_text("not base64 at all: p@ssw0rd!")
    with pytest.raises(CredentialError) as caught:
        load_key_file(path)
    assert "p@ssw0rd" not in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_or_unreadable_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match=r"cannot read key file .*missing\.key"):
        load_key_file(tmp_path / "missing.key")
    with pytest.raises(CredentialError, match="cannot read key file"):
        load_key_file(tmp_path)  # a directory


def test_generated_key_files_are_private_fresh_and_loadable(tmp_path: Path) -> None:
    first = generate_key_file(tmp_path / "a.key")
    second = generate_key_file(tmp_path / "b.key")
    assert first.kid != second.kid
    assert load_key_file(tmp_path / "a.key") == first
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "a.key").stat().st_mode) == 0o600


def test_an_existing_key_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    key = generate_key_file(path)
    with pytest.raises(CredentialError, match="exists"):
        generate_key_file(path)
    assert load_key_file(path) == key


def test_a_key_s_repr_shows_its_kid_only() -> None:
    key = Key(MATERIAL)
    assert repr(key) == f"Key(kid='{key.kid}')"
    assert MATERIAL.hex() not in repr(key)
