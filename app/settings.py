"""Every setting honeytrace reads, from `HONEYTRACE_*` variables or a `.env` file.

README.md carries a table of these; tests/test_settings.py keeps the two in step.
"""

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"  # noqa: S105 (a known placeholder)
PLACEHOLDER_SECRETS = frozenset({"", "changethis", "changeme", "secret", DEVELOPMENT_SECRET})


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class InsecureSettingsError(ValueError):
    """Start-up refused: a secret is missing or still a placeholder outside development."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HONEYTRACE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = Field(
        Environment.DEVELOPMENT,
        description="`development` allows placeholder secrets; `production` refuses to start.",
    )
    database_url: str = Field(
        "sqlite:///honeytrace.db",
        description="SQLAlchemy URL. The default is a SQLite file in the working directory; "
        "PostgreSQL as `postgresql+psycopg://user@host/db`.",
    )
    secret_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_SECRET),
        description="Signs session cookies and CSRF tokens. Required outside development.",
    )
    host: str = Field("127.0.0.1", description="Address `honeytrace serve` listens on.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        8000, description="Port `honeytrace serve` listens on."
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        1_048_576, description="Largest JSON request body accepted; larger ones get 413."
    )
    max_upload_bytes: Annotated[int, Field(ge=1024)] = Field(
        64 * 1_048_576,
        description="Largest uploaded file (CSV link import, a reported file) accepted.",
    )
    max_scan_bytes: Annotated[int, Field(ge=1024)] = Field(
        20 * 1_073_741_824,
        description="Largest leaked file `POST /v1/scans` accepts (streamed to a spool file, "
        "deleted when the scan ends).",
    )
    scan_spool_dir: str | None = Field(
        None,
        description="Directory for uploads being scanned; the system's temporary directory "
        "when unset. Files there never outlive their scan.",
    )
    max_running_scans: Annotated[int, Field(ge=1)] = Field(
        2, description="Scans one API key may have queued or running at once; more get 429."
    )
    index_path: str = Field(
        "",
        description="The canary key table a process loads instead of reading every canary "
        "(a cache of the database, rebuilt from it when missing or damaged). Empty: beside "
        "the SQLite file (`<file>.keys`), or for PostgreSQL in the temporary directory, "
        "named after the database.",
    )
    evidence_dir: str = Field(
        "evidence",
        description="Directory of the evidence blobs behind sightings (content-addressed); "
        "relative paths are from the working directory.",
    )
    max_report_chars: Annotated[int, Field(ge=1000)] = Field(
        200_000, description="Longest text a manual report (`POST /v1/sightings`) may carry."
    )
    requests_per_second: Annotated[float, Field(gt=0)] = Field(
        50.0,
        description="Matching requests (`POST /v1/sightings`, `POST /v1/screen`) one API key "
        "may make per second; more get 429.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The URL the outside world reaches this service at; Twilio signs webhook "
        "requests over it, so it must be exactly what Twilio is configured to call.",
    )
    twilio_auth_token: SecretStr = Field(
        SecretStr(""),
        description="Checks the `X-Twilio-Signature` of Twilio's webhooks; unset, they are "
        "refused (503).",
    )
    twilio_account_sid: str = Field(
        "",
        description="The Twilio account (`AC…`) whose calls and messages reconciliation lists "
        "with `HONEYTRACE_TWILIO_AUTH_TOKEN`, so a missed webhook is not a lost sighting; "
        "unset, reconciliation is not configured.",
    )
    telephony_secrets: dict[str, SecretStr] = Field(
        {},
        description="HMAC-SHA256 secrets of other telephony providers by name, as JSON "
        '(`{"aliyun": "..."}`), for `POST /v1/webhooks/telephony/{provider}`.',
    )
    voice_greeting: str = Field(
        "您好，我现在不方便接听，请留言。",
        description="What a call to a pool number hears before it is recorded.",
    )
    fetch_private_addresses: bool = Field(
        False,
        description="Lets the site watcher fetch loopback and private addresses (an intranet "
        "mirror, tests); off, such URLs and redirects to them are refused.",
    )
    site_check_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        60,
        description="How often the jobs look for trading sites due a poll (each site has its "
        "own interval), dividing a minute, an hour or a day; 0 turns site polling off.",
    )
    twilio_reconcile_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        3600,
        description="How often Twilio reconciliation lists the last day of calls and messages "
        "(when the account and token are set), dividing a minute, an hour or a day; 0: never.",
    )
    log_level: str = Field("INFO", description="Python log level of the JSON logs.")
    time_zone: str = Field(
        "Asia/Shanghai",
        description="IANA time zone times are shown in to people (pages, CLI, evidence "
        "bundles, incident explanations); storage and the API stay in UTC.",
    )
    rotation_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        3600,
        description="How often canary rotation runs (in `serve` on SQLite, on workers on "
        "PostgreSQL), dividing a minute, an hour or a day; 0 turns it off.",
    )
    job_concurrency: Annotated[int, Field(ge=1)] = Field(
        4,
        description="Jobs one process runs at once: `serve` on SQLite (and with "
        "`jobs_in_process`), and `honeytrace worker` unless `--concurrency` says otherwise.",
    )
    jobs_in_process: bool = Field(
        False,
        description="On PostgreSQL, `serve` also works the job queue as a `honeytrace worker` "
        "would (one host, no workers). On SQLite `serve` always runs the jobs itself.",
    )
    alert_private_addresses: bool = Field(
        False,
        description="Lets alert subscriptions use http and loopback or private addresses (an "
        "intranet receiver, tests); off, alerts go only to https URLs on public addresses, "
        "checked when a subscription is saved and again at each delivery.",
    )
    incident_sweep_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        60,
        description="How often incidents whose attribution is behind their sightings (a "
        "refresh job lost at a restart) get a refresh job, dividing a minute, an hour or a "
        "day; 0 turns it off.",
    )
    alert_sweep_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        60,
        description="How often pending alert deliveries no job has taken up (raised from the "
        "CLI or a scan, or lost at a restart) are queued, dividing a minute, an hour or a "
        "day; 0 turns it off.",
    )
    stalled_job_check_interval_seconds: Annotated[int, Field(ge=0)] = Field(
        30,
        description="On PostgreSQL, how often workers look for jobs whose worker died (no "
        "heartbeat for 30 s) and put them back in the queue, dividing a minute, an hour or a "
        "day; 0 turns it off.",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from error
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @model_validator(mode="after")
    def _enforce_real_secrets(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        if self.secret_key.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise InsecureSettingsError(
                "HONEYTRACE_SECRET_KEY is missing or a placeholder; set it to a long random "
                "value (for example `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                " or set HONEYTRACE_ENVIRONMENT=development"
            )
        if len(self.secret_key.get_secret_value()) < 32:
            raise InsecureSettingsError("HONEYTRACE_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def evidence_path(self) -> Path:
        return Path(self.evidence_dir)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@cache
def get_settings() -> Settings:
    return Settings()
