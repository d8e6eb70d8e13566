"""The credentials package's public names stay exported, sorted and importable."""

from __future__ import annotations

import brainlink_docs.credentials as credentials


def test_every_public_name_is_exported_and_importable() -> None:
    for name in credentials.__all__:
        assert getattr(credentials, name) is not None
    assert sorted(credentials.__all__) == credentials.__all__
