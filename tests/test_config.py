"""Settings layers for the ``[audit]`` section: defaults < ini file < environment."""

from __future__ import annotations

from pathlib import Path

from brainlink_docs.config import AuditSettings, load_settings


def test_audit_defaults_log_the_four_sensitive_types_without_trusting_proxies(
    tmp_path: Path,
) -> None:
    audit = load_settings(config_file=tmp_path / "none.ini", environ={}).audit
    assert audit == AuditSettings()
    assert audit.enabled and not audit.trust_forwarded
    assert audit.types == ("integration", "apiKey", "permission", "user")


def test_audit_settings_come_from_the_ini_file_and_the_environment(tmp_path: Path) -> None:
    ini = tmp_path / "local.ini"
    ini.write_text("[audit]\nenabled = false\ntypes = apiKey, user\ntrust_forwarded = true\n")
    audit = load_settings(config_file=ini, environ={}).audit
    assert audit == AuditSettings(enabled=False, types=("apiKey", "user"), trust_forwarded=True)
    env = {"BRAINLINK_AUDIT": "true", "BRAINLINK_AUDIT_TRUST_FORWARDED": "false"}
    audit = load_settings(config_file=ini, environ=env).audit
    assert audit == AuditSettings(enabled=True, types=("apiKey", "user"), trust_forwarded=False)
