"""Settings: one typed object read from ``EVENTEYE_*`` variables and ``eventeye.toml``.

Defaults run with zero configuration on the embedded database. Secrets never
have a hard-coded default: the signing key is generated once into
``DATA_DIR`` (mode 0600) or, in production, must be given.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ALL_MODULES = ("web", "vehicles", "criticality", "plans", "activity")
ENV_PREFIX = "EVENTEYE_"
SECRET_KEY_FILE = "secret_key"


def _seconds(value: Any) -> Any:
    """Durations may be given as a number of seconds (``3600``) as well as ISO 8601 (``PT1H``)."""
    if isinstance(value, str):
        try:
            return timedelta(seconds=float(value))
        except (ValueError, OverflowError):
            return value
    return value


Duration = Annotated[timedelta, BeforeValidator(_seconds)]
"""A ``timedelta`` setting: seconds (``90``, ``0.5``), ``HH:MM:SS`` or ISO 8601 (``PT15M``)."""


class ConfigFileError(ValueError):
    """The settings file named by ``EVENTEYE_CONFIG_FILE`` is missing, or a settings file is not valid TOML."""


def _config_file() -> Path:
    explicit = os.environ.get("EVENTEYE_CONFIG_FILE")
    if not explicit:
        return Path("eventeye.toml")
    if not Path(explicit).is_file():
        raise ConfigFileError(f"EVENTEYE_CONFIG_FILE: no such file {explicit}")
    return Path(explicit)


class Settings(BaseSettings):
    """Every setting of eventeye; environment variables take the ``EVENTEYE_`` prefix."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".eventeye")
    database_url: str | None = None
    database_pool_size: int = Field(
        default=20, ge=1, description="PostgreSQL connections per process (requests beyond it wait for one)"
    )
    database_driver_pool_size: int = Field(
        default=5,
        ge=1,
        description="PostgreSQL connections per process for single-statement requests run on the driver directly",
    )
    secret_key: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    modules: Annotated[tuple[str, ...], NoDecode] = ALL_MODULES
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port on which `eventeye worker` serves its Prometheus metrics (`/metrics`, on `host`); "
        "unset: none",
    )

    # Auth
    open_signup: bool = False
    password_min_length: int = Field(default=8, ge=6, le=128)
    access_token_ttl: Duration = timedelta(minutes=30)
    jwt_issuer: str = "eventeye"
    jwt_audience: str = "eventeye"
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window: Duration = timedelta(minutes=5)
    api_key_cache_ttl: Duration = timedelta(seconds=5)

    # Requests and the pipeline
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    max_events_per_request: int = Field(default=1000, ge=1)
    inbox_batch_size: int = Field(default=2000, ge=1)
    inbox_max_wait: Duration = timedelta(0)
    inbox_max_backlog: int = Field(default=200_000, ge=1)
    processor_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Most events the processor takes in one transaction (default: 2000 on PostgreSQL, "
        "1000 on SQLite, where a batch holds the file's one write lock and ingestion waits for it)",
    )
    processor_linger: Duration = timedelta(milliseconds=20)
    processor_idle_wait: Duration = timedelta(milliseconds=20)
    clock_skew: Duration = timedelta(minutes=5)
    strict_types: bool = False
    event_schemas: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict, description="Payload schema overrides: {module: {type: JSON Schema}}"
    )

    # OpenTelemetry traces (unset = off; needs the `otel` extra)
    otel_endpoint: str | None = None
    otel_service_name: str = "eventeye"

    # Kafka (unset = no Kafka)
    kafka_bootstrap_servers: str | None = None
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_enable_idempotence: bool = False
    kafka_group_id: str = "eventeye"
    kafka_alerts_topic: str = "eventeye.alerts"
    kafka_session_timeout: Duration = timedelta(seconds=10)
    kafka_heartbeat_interval: Duration = timedelta(seconds=3)
    kafka_fetch_max_wait: Duration = Field(
        default=timedelta(milliseconds=50), description="Upper bound on consume latency with brokers that hold fetches"
    )
    kafka_dead_letter_topic: str | None = Field(
        default=None, description="Also publish records that cannot become events here (they always land in errors)"
    )

    # Rules and alerts
    rules: list[dict[str, Any]] = Field(
        default_factory=list, description="Rules ([[rules]] tables in eventeye.toml; see the README)"
    )
    rules_timer_interval: Duration = timedelta(seconds=1)
    deferred_write_delay: Duration = Field(
        default=timedelta(milliseconds=200),
        description="What requests leave for later (criticality polls, their facts for rules) is written within this",
    )
    deferred_max_pending: int = Field(default=100_000, ge=1)
    rules_state_cache_size: int = Field(default=100_000, ge=0)
    alerts_heartbeat: Duration = timedelta(seconds=15)
    alerts_client_queue: int = Field(default=1000, ge=1)
    alerts_replay_limit: int = Field(default=10_000, ge=0)
    alerts_stream_token_ttl: Duration = timedelta(seconds=60)
    alerts_poll_interval: Duration = timedelta(milliseconds=500)
    alerts_delivery_poll: Duration = timedelta(seconds=1)
    alerts_delivery_batch: int = Field(default=100, ge=1, le=10_000)
    alerts_delivery_max_attempts: int = Field(default=8, ge=1, le=100)
    alerts_delivery_backoff: Duration = timedelta(seconds=1)
    alerts_delivery_max_backoff: Duration = timedelta(minutes=10)
    alerts_webhook_timeout: Duration = timedelta(seconds=5)

    # vehicles
    suspicious_vehicle: str = Field(
        default="SUV",
        validation_alias=AliasChoices("EVENTEYE_SUSPICIOUS_VEHICLE", "SUSPICIOUS_VEHICLE", "suspicious_vehicle"),
    )
    vehicles_detections_topic: str = "intellisite.detections"
    vehicles_alerts_topic: str = "intellisite.alerts"
    vehicles_topic_partitions: int = Field(default=6, ge=1, le=1000, description="Partitions of the topic if created")

    # criticality
    criticality_token: SecretStr | None = None
    criticality_consumer_timeout: Duration = timedelta(minutes=10)
    criticality_status_min: int = 1
    criticality_status_max: int = 5

    # plans
    plans_provider_url: str | None = None
    plans_sync_interval: Duration = timedelta(seconds=60)
    plans_provider_timeout: Duration = timedelta(seconds=10)
    plans_max_feed_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    plans_provider_name: str = Field(default="provider", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    plans_provider_retries: int = Field(default=3, ge=0, le=10)
    plans_provider_backoff: Duration = timedelta(seconds=1)
    plans_provider_deadline: Duration = timedelta(minutes=5)
    plans_breaker_threshold: int = Field(default=5, ge=1)
    plans_breaker_reset: Duration = timedelta(minutes=2)
    plans_sync_lease_ttl: Duration = timedelta(minutes=2)
    plans_search_cache_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    plans_sync_nice: int = Field(default=10, ge=0, le=19)
    plans_sync_idle: bool = True
    plans_sync_cpu_share: float = Field(default=0.3, gt=0, le=1)

    # activity
    activity_presence_streak: int = Field(default=5, ge=1)

    @field_validator("modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("modules")
    @classmethod
    def _known_modules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(ALL_MODULES))
        if unknown:
            raise ValueError(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(ALL_MODULES)}")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = normalise_database_url(value)
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # HS256 needs a key at least as long as its 256-bit output (RFC 7518, 3.2).
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters, e.g. the output of `openssl rand -base64 48`")
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.env == "production" and self.secret_key is None:
            raise ValueError("EVENTEYE_SECRET_KEY is required when EVENTEYE_ENV=production")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_file()
        try:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"{path}: not valid TOML ({exc})") from exc
        return init_settings, env_settings, toml, file_secret_settings

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'eventeye.db').resolve()}"

    @property
    def is_embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_processor_batch_size(self) -> int:
        """The processor's batch size, defaulting by database (measured in ``docs/benchmarks.md``)."""
        if self.processor_batch_size is not None:
            return self.processor_batch_size
        return 1000 if self.is_embedded else 2000

    def module_enabled(self, name: str) -> bool:
        return name in self.modules


def normalise_database_url(url: str) -> str:
    """Map plain ``sqlite://`` / ``postgresql://`` URLs to their async drivers."""
    for plain, driver in (
        ("sqlite:///", "sqlite+aiosqlite:///"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def resolve_secret_key(settings: Settings) -> str:
    """The JWT signing key: configured, or generated once into ``data_dir`` with mode 0600."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path = settings.data_dir / SECRET_KEY_FILE
    if not path.exists():
        _write_new_key(path)
    return path.read_text().strip()


def _write_new_key(path: Path) -> None:
    # Written whole to a private temporary file, then linked into place: the
    # link fails if another process got there first, so every process that
    # starts at the same time reads one complete key.
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink(missing_ok=True)


def describe_error(error: ValidationError) -> str:
    """One line naming the offending variable(s), for start-up failures."""
    parts = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        field = str(item["loc"][0]) if item["loc"] else ""
        parts.append(f"{ENV_PREFIX}{field.upper()}: {message}" if field else message)
    return "invalid settings: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
