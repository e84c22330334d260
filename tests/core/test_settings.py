"""Settings: defaults, environment and file parsing, validation, the generated secret key, start-up errors."""

from __future__ import annotations

import os
import stat
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from eventeye.config import ALL_MODULES, ConfigFileError, Settings, describe_error, resolve_secret_key
from tests.fixtures.cli import run_cli


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ``EVENTEYE_*`` variable and no ``eventeye.toml`` from the caller's environment."""
    for key in list(os.environ):
        if key.startswith("EVENTEYE_"):
            monkeypatch.delenv(key)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


def rejection(**env: str) -> str:
    """The one-line start-up message for ``env``; fails when the settings are accepted."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        with pytest.raises(ValidationError) as caught:
            Settings()
    return describe_error(caught.value)


class TestDefaults:
    def test_zero_configuration_uses_the_embedded_database_in_the_data_dir(self, clean_environment: Path) -> None:
        settings = Settings()
        expected = (clean_environment / ".eventeye" / "eventeye.db").resolve()
        assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected}"
        assert settings.is_embedded

    def test_zero_configuration_is_development_on_localhost_with_every_module(self) -> None:
        settings = Settings()
        assert (settings.env, settings.host, settings.port) == ("development", "127.0.0.1", 8000)
        assert settings.modules == ALL_MODULES
        assert settings.secret_key is None
        assert settings.kafka_bootstrap_servers is None
        assert (settings.log_level, settings.log_format) == ("INFO", "text")


class TestEnvironmentParsing:
    def test_modules_is_a_comma_separated_list(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EVENTEYE_MODULES", " web , plans,")
        assert Settings().modules == ("web", "plans")
        assert Settings().module_enabled("plans")
        assert not Settings().module_enabled("vehicles")

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("3600", timedelta(hours=1)), ("PT15M", timedelta(minutes=15)), ("00:00:05", timedelta(seconds=5))],
    )
    def test_durations_accept_seconds_and_iso_8601(
        self, monkeypatch: pytest.MonkeyPatch, raw: str, expected: timedelta
    ) -> None:
        monkeypatch.setenv("EVENTEYE_ACCESS_TOKEN_TTL", raw)
        assert Settings().access_token_ttl == expected

    @pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("yes", True), ("false", False)])
    def test_booleans_accept_the_usual_spellings(
        self, monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
    ) -> None:
        monkeypatch.setenv("EVENTEYE_OPEN_SIGNUP", raw)
        assert Settings().open_signup is expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("postgresql://u@db:5432/ee", "postgresql+asyncpg://u@db:5432/ee"),
            ("postgres://u@db/ee", "postgresql+asyncpg://u@db/ee"),
            ("sqlite:////var/lib/ee.db", "sqlite+aiosqlite:////var/lib/ee.db"),
        ],
    )
    def test_plain_database_urls_get_the_async_driver(
        self, monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
    ) -> None:
        monkeypatch.setenv("EVENTEYE_DATABASE_URL", raw)
        settings = Settings()
        assert settings.resolved_database_url == expected
        assert settings.is_embedded is expected.startswith("sqlite")

    @pytest.mark.parametrize(
        ("url", "given", "expected"),
        [
            ("sqlite:////var/lib/ee.db", None, 1000),  # a batch holds the file's one write lock: smaller
            ("postgresql://u@db/ee", None, 2000),
            ("sqlite:////var/lib/ee.db", "5000", 5000),
            ("postgresql://u@db/ee", "300", 300),
        ],
    )
    def test_the_processor_batch_size_defaults_by_database(
        self, monkeypatch: pytest.MonkeyPatch, url: str, given: str | None, expected: int
    ) -> None:
        monkeypatch.setenv("EVENTEYE_DATABASE_URL", url)
        if given is not None:
            monkeypatch.setenv("EVENTEYE_PROCESSOR_BATCH_SIZE", given)
        assert Settings().resolved_processor_batch_size == expected


class TestConfigFile:
    def test_eventeye_config_file_points_at_the_toml_file(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        config = tmp_path / "elsewhere.toml"
        config.write_text('port = 9001\nmodules = ["web"]\nopen_signup = true\naccess_token_ttl = "PT1H"\n')
        monkeypatch.setenv("EVENTEYE_CONFIG_FILE", str(config))
        settings = Settings()
        assert (settings.port, settings.modules, settings.open_signup) == (9001, ("web",), True)
        assert settings.access_token_ttl == timedelta(hours=1)

    def test_eventeye_toml_in_the_working_directory_is_read(self, clean_environment: Path) -> None:
        (clean_environment / "eventeye.toml").write_text('log_format = "json"\n')
        assert Settings().log_format == "json"

    def test_environment_wins_over_the_file(self, monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
        (clean_environment / "eventeye.toml").write_text("port = 9001\n")
        monkeypatch.setenv("EVENTEYE_PORT", "9002")
        assert Settings().port == 9002

    def test_bad_value_in_the_file_names_the_setting(self, clean_environment: Path) -> None:
        (clean_environment / "eventeye.toml").write_text('port = "many"\n')
        with pytest.raises(ValidationError) as caught:
            Settings()
        assert "EVENTEYE_PORT" in describe_error(caught.value)

    def test_missing_explicit_file_is_rejected(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("EVENTEYE_CONFIG_FILE", str(tmp_path / "absent.toml"))
        with pytest.raises(ConfigFileError, match="EVENTEYE_CONFIG_FILE"):
            Settings()

    def test_malformed_file_is_rejected_naming_it(self, clean_environment: Path) -> None:
        (clean_environment / "eventeye.toml").write_text("port = = 1\n")
        with pytest.raises(ConfigFileError, match="eventeye.toml"):
            Settings()


class TestValidation:
    def test_unknown_module_is_rejected(self) -> None:
        message = rejection(EVENTEYE_MODULES="web,nope")
        assert message.startswith("invalid settings: EVENTEYE_MODULES:")
        assert "nope" in message

    @pytest.mark.parametrize("url", ["mysql://root@db/ee", "not a url", "http://example.com"])
    def test_unsupported_database_url_is_rejected(self, url: str) -> None:
        assert "EVENTEYE_DATABASE_URL: " in rejection(EVENTEYE_DATABASE_URL=url)

    @pytest.mark.parametrize("port", ["0", "65536", "http"])
    def test_bad_port_is_rejected(self, port: str) -> None:
        assert "EVENTEYE_PORT: " in rejection(EVENTEYE_PORT=port)

    def test_bad_duration_is_rejected(self) -> None:
        assert "EVENTEYE_ACCESS_TOKEN_TTL: " in rejection(EVENTEYE_ACCESS_TOKEN_TTL="soon")

    def test_bad_boolean_is_rejected(self) -> None:
        assert "EVENTEYE_OPEN_SIGNUP: " in rejection(EVENTEYE_OPEN_SIGNUP="perhaps")

    def test_production_without_secret_key_is_rejected(self) -> None:
        message = rejection(EVENTEYE_ENV="production")
        assert "EVENTEYE_SECRET_KEY" in message
        assert "\n" not in message

    def test_short_secret_key_is_rejected(self) -> None:
        message = rejection(EVENTEYE_SECRET_KEY="s" * 31)
        assert message.startswith("invalid settings: EVENTEYE_SECRET_KEY: must be at least 32 characters")
        assert "s" * 31 not in message

    def test_production_with_secret_key_is_accepted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("EVENTEYE_ENV", "production")
        monkeypatch.setenv("EVENTEYE_SECRET_KEY", "s" * 48)
        assert Settings().secret_key is not None


class TestSecretKey:
    def test_generated_key_is_private_and_stable(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data")
        first = resolve_secret_key(settings)
        path = tmp_path / "data" / "secret_key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(first) >= 43  # 32 random bytes, url-safe base64
        assert resolve_secret_key(Settings(data_dir=tmp_path / "data")) == first

    def test_each_data_dir_gets_its_own_key(self, tmp_path: Path) -> None:
        assert resolve_secret_key(Settings(data_dir=tmp_path / "a")) != resolve_secret_key(
            Settings(data_dir=tmp_path / "b")
        )

    def test_configured_key_is_used_and_nothing_is_written(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data", secret_key="k" * 48)
        assert resolve_secret_key(settings) == "k" * 48
        assert not (tmp_path / "data" / "secret_key").exists()

    def test_processes_starting_together_agree_on_one_key(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path / "data")
        barrier = threading.Barrier(8, timeout=10)
        keys: list[str] = []
        errors: list[BaseException] = []

        def resolve() -> None:
            barrier.wait()
            try:
                keys.append(resolve_secret_key(settings))
            except BaseException as exc:  # collected and reported below
                errors.append(exc)

        threads = [threading.Thread(target=resolve) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert errors == []
        assert len(keys) == 8
        assert len(set(keys)) == 1
        assert keys[0] == (tmp_path / "data" / "secret_key").read_text()


class TestStartupErrors:
    """The real ``eventeye`` command: bad settings stop it with one line naming the variable."""

    @pytest.mark.parametrize(
        ("command", "env", "variable"),
        [
            ("serve", {"EVENTEYE_PORT": "http"}, "EVENTEYE_PORT"),
            ("migrate", {"EVENTEYE_MODULES": "web,nope"}, "EVENTEYE_MODULES"),
            ("worker", {"EVENTEYE_DATABASE_URL": "mysql://db/ee"}, "EVENTEYE_DATABASE_URL"),
            ("api", {"EVENTEYE_ENV": "production"}, "EVENTEYE_SECRET_KEY"),
            ("serve", {"EVENTEYE_CONFIG_FILE": "/nonexistent/eventeye.toml"}, "EVENTEYE_CONFIG_FILE"),
        ],
    )
    def test_bad_variable_exits_with_one_line_naming_it(
        self, clean_environment: Path, command: str, env: dict[str, str], variable: str
    ) -> None:
        result = run_cli(command, env=env, cwd=clean_environment, timeout=30)
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert variable in lines[0]
        assert lines[0].startswith("error: ")
        assert not (clean_environment / ".eventeye").exists()
