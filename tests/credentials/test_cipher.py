"""Sealing laws: any text round-trips, every seal is fresh, the document id is bound, any change
fails to open, and a wrong key says so."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.credentials import (
    CredentialError,
    Key,
    KeyNotLoaded,
    Keyring,
    SealBroken,
    Secret,
    is_sealed,
    open_sealed,
    seal,
)

KEY = Key(bytes(range(32)))
OTHER = Key(bytes(range(1, 33)))
KEYRING = Keyring([KEY])
DOC_ID = "u/0b7e/integration/5f1c"


@given(plaintext=st.text(), doc_id=st.text())
def test_any_text_round_trips_for_any_document_id(plaintext: str, doc_id: str) -> None:
    sealed = seal(KEY, doc_id, plaintext)
    assert is_sealed(sealed)
    assert open_sealed(KEYRING, doc_id, sealed).reveal() == plaintext


def test_the_sealed_shape_is_the_data_model_s() -> None:
    sealed = seal(KEY, DOC_ID, "ghp_token")
    assert set(sealed) == {"alg", "kid", "iv", "encrypted"}
    assert sealed["alg"] == "A256GCM"
    assert sealed["kid"] == KEY.kid
    assert len(base64.b64decode(sealed["iv"])) == 12
    # ciphertext as long as the UTF-8 plaintext, then the 16-byte tag
    assert len(base64.b64decode(sealed["encrypted"])) == len(b"ghp_token") + 16


@given(plaintext=st.text())
def test_two_seals_of_one_secret_differ(plaintext: str) -> None:
    first, second = seal(KEY, DOC_ID, plaintext), seal(KEY, DOC_ID, plaintext)
    assert first["iv"] != second["iv"]
    assert first["encrypted"] != second["encrypted"]


@given(plaintext=st.text(), doc_id=st.text(), other_id=st.text())
def test_a_sealed_value_opens_only_in_its_own_document(
    plaintext: str, doc_id: str, other_id: str
) -> None:
    sealed = seal(KEY, doc_id, plaintext)
    if other_id == doc_id:
        return
    with pytest.raises(SealBroken, match="tampered or sealed for another document"):
        open_sealed(KEYRING, other_id, sealed)


def _flip(text: str, index: int, bit: int) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[index % len(raw)] ^= 1 << bit
    return base64.b64encode(bytes(raw)).decode()


@given(
    plaintext=st.text(),
    field=st.sampled_from(["iv", "encrypted"]),
    index=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_changing_any_bit_of_nonce_ciphertext_or_tag_fails(
    plaintext: str, field: str, index: int, bit: int
) -> None:
    sealed = seal(KEY, DOC_ID, plaintext)
    tampered = {**sealed, field: _flip(sealed[field], index, bit)}
    with pytest.raises(SealBroken, match="does not open"):
        open_sealed(KEYRING, DOC_ID, tampered)


@given(
    field=st.sampled_from(["iv", "encrypted"]),
    index=st.integers(min_value=0),
    replacement=st.characters(codec="ascii"),
)
def test_changing_any_character_of_the_stored_text_fails(
    field: str, index: int, replacement: str
) -> None:
    """Strict base64: even a character that only changes unused padding bits is refused."""
    sealed = seal(KEY, DOC_ID, "sk-live-0123456789")
    text = sealed[field]
    i = index % len(text)
    if text[i] == replacement:
        return
    tampered = {**sealed, field: text[:i] + replacement + text[i + 1 :]}
    with pytest.raises(SealBroken):
        open_sealed(KEYRING, DOC_ID, tampered)


@pytest.mark.parametrize("cut", ["iv", "encrypted"])
def test_truncated_values_fail(cut: str) -> None:
    sealed = seal(KEY, DOC_ID, "x")
    short = base64.b64encode(base64.b64decode(sealed[cut])[:-1]).decode()
    with pytest.raises(SealBroken):
        open_sealed(KEYRING, DOC_ID, {**sealed, cut: short})


def test_a_wrong_key_is_named_not_taken_for_tampering() -> None:
    sealed = seal(KEY, DOC_ID, "secret")
    with pytest.raises(KeyNotLoaded) as caught:
        open_sealed(Keyring([OTHER]), DOC_ID, sealed)
    assert str(caught.value) == f"sealed with key {KEY.kid}, which is not loaded"


def test_a_keyring_of_several_keys_opens_each_key_s_values() -> None:
    ring = Keyring([KEY, OTHER])
    assert open_sealed(ring, DOC_ID, seal(KEY, DOC_ID, "a")).reveal() == "a"
    assert open_sealed(ring, DOC_ID, seal(OTHER, DOC_ID, "b")).reveal() == "b"


def test_a_forged_kid_with_the_right_bytes_fails_the_tag() -> None:
    """Relabeling a value with another loaded key's kid is tampering too."""
    sealed = seal(KEY, DOC_ID, "secret")
    with pytest.raises(SealBroken):
        open_sealed(Keyring([KEY, OTHER]), DOC_ID, {**sealed, "kid": OTHER.kid})


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        {"alg": "A256GCM", "kid": "k", "iv": "i"},
        {"alg": "A128GCM", "kid": "k", "iv": "i", "encrypted": "e"},
        {"alg": "A256GCM", "kid": "k", "iv": "i", "encrypted": 1},
        {"alg": "A256GCM", "kid": "k", "iv": "i", "encrypted": "e", "extra": "x"},
    ],
)
def test_only_the_sealed_shape_is_recognized(value: object) -> None:
    assert not is_sealed(value)
    with pytest.raises(CredentialError, match="not a sealed value"):
        open_sealed(KEYRING, DOC_ID, value)  # type: ignore[arg-type]


def test_a_secret_never_shows_itself() -> None:
    secret = open_sealed(KEYRING, DOC_ID, seal(KEY, DOC_ID, "hunter2"))
    assert repr(secret) == str(secret) == f"{secret}" == "Secret('***')"
    assert "hunter2" not in repr([secret, {"k": secret}])
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2")
    assert secret != Secret("hunter3")


def test_a_lone_surrogate_is_refused_without_quoting_it() -> None:
    with pytest.raises(CredentialError) as caught:
        seal(KEY, DOC_ID, "pass\udc80word")
    assert "\udc80" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
