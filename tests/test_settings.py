"""Settings: the README table is true, and production refuses placeholder secrets."""

import re

import pytest
from pydantic import SecretStr, ValidationError

from app.settings import DEVELOPMENT_SECRET, Environment, Settings
from tests.conftest import ROOT

ROW = re.compile(r"^\| `(HONEYTRACE_[A-Z_]+)` \| (.+?) \| (.+?) \|$")


def _readme_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text("utf-8")
    return {m.group(1): m.group(2) for line in text.splitlines() if (m := ROW.match(line))}


def test_readme_table_lists_every_setting_with_its_default() -> None:
    rows = _readme_rows()
    fields = {f"HONEYTRACE_{name.upper()}": info for name, info in Settings.model_fields.items()}
    assert set(rows) == set(fields)
    for variable, info in fields.items():
        if isinstance(info.default, SecretStr):
            assert "placeholder" in rows[variable]
        else:
            assert rows[variable] == f"`{info.default}`", variable


def test_production_refuses_placeholder_and_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HONEYTRACE_SECRET_KEY", raising=False)
    for secret in (None, DEVELOPMENT_SECRET, "changethis", "", "short"):
        kwargs = {} if secret is None else {"secret_key": SecretStr(secret)}
        with pytest.raises(ValidationError, match="HONEYTRACE_SECRET_KEY"):
            Settings(environment=Environment.PRODUCTION, **kwargs)  # type: ignore[arg-type]
    real = Settings(environment=Environment.PRODUCTION, secret_key=SecretStr("k" * 40))
    assert real.secret_key.get_secret_value() == "k" * 40
    assert "k" * 40 not in repr(real)


def test_development_accepts_the_placeholder() -> None:
    assert Settings(environment=Environment.DEVELOPMENT).secret_key.get_secret_value()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HONEYTRACE_PORT", "9100")
    monkeypatch.setenv("HONEYTRACE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = Settings()
    assert settings.port == 9100
    assert not settings.is_sqlite
    monkeypatch.setenv("HONEYTRACE_PORT", "0")
    with pytest.raises(ValidationError, match="port"):
        Settings()
