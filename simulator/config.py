"""Settings: every option of `simulator serve` is also an environment variable prefixed SIM_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The named fixture sets, inside the package (a link to the top-level `fixtures/` in a checkout,
# the files themselves in an installed wheel).
PACKAGED_FIXTURES = Path(__file__).resolve().parent / "fixture_sets"

# The driver the `postgres` extra installs: what `postgres://` and `postgresql://` URLs (the
# form most hosts and tools print) mean here; SQLAlchemy would look for psycopg2.
POSTGRES_DRIVER = "postgresql+psycopg"


def normalized_database_url(url: str) -> str:
    """`postgres://...` and `postgresql://...` -> `postgresql+psycopg://...`; others as given."""
    scheme, separator, rest = url.partition("://")
    if separator and scheme.lower() in ("postgres", "postgresql"):
        return f"{POSTGRES_DRIVER}://{rest}"
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite:///./var/simulator.db"
    fixtures: str = "default"
    fixtures_dir: Path = PACKAGED_FIXTURES
    faults: str | None = None
    seed: int = 0
    workers: int = 1
    # SQLite: the store's file is read through a memory map of up to this many bytes (0: off).
    sqlite_mmap_bytes: int = 256 * 1024 * 1024
    # SQLite: the commit group's connection's page cache, in bytes (0: SQLite's own 2 MB).
    sqlite_cache_bytes: int = 16 * 1024 * 1024
    # Upgrade an older database schema at start (else refuse and ask for `simulator db upgrade`).
    auto_migrate: bool = True
    # SQLite: the session updates one event-loop turn serves share one commit (core/groupcommit).
    group_commit: bool = True
    # API requests to plain endpoints skip FastAPI's routing and dependency solving
    # (core/dispatch, docs/adr/0001-fast-lane.md); off: every request through FastAPI.
    fast_lane: bool = True
    # An answer's head and body leave in one write (server.OneWriteTransport,
    # docs/adr/0005-one-write-per-response.md); off: uvicorn's two.
    one_write: bool = True

    # Control plane
    admin_token: str | None = None
    open_signup: bool = False
    allow_fault_header: bool = True
    # Limits of open sign-up (callers without the token; the operator is not limited): tenants
    # in the store, sign-up attempts per client address and clock hour, and the stored-records
    # quota each signed-up tenant gets (its fixtures included).
    max_tenants: int = 1_000
    signups_per_hour: int = 60
    signup_max_records: int = 50_000
    # Proxies whose X-Forwarded-For names the client (uvicorn's forwarded_allow_ips: addresses,
    # networks or "*"); unset: the peer's address is the client's.
    forwarded_allow_ips: str | None = None

    # Request journal
    journal_enabled: bool = True
    journal_max_entries: int = 10_000
    journal_body_bytes: int = 4_096
    journal_flush_seconds: float = 0.2
    # SQLite: a process of its own stores the journal (core/journal_process,
    # docs/adr/0006-journal-writer-process.md); off: a thread of the server's.
    journal_writer_process: bool = True

    # Observability
    log_format: str = "text"  # or "json"
    access_log: bool = False  # one log line per API request (with request id and tenant)

    # Delete tenants (other than `default`) not used for this many seconds (None: never).
    tenant_idle_seconds: float | None = None

    # Background work (the CustomerGauge stream worker and friends)
    run_worker: bool = True

    # Credentials of the `default` tenant (README.md, "Default credentials")
    default_customergauge_api_key: str = "cg-sandbox-key"
    default_clienttoolbox_user_id: str = "sandbox"
    default_clienttoolbox_user_api_key: str = "ct-sandbox-key"
    default_clienttoolbox_account_id: str = "sandbox"
    default_talonone_api_key: str = "talon-sandbox-key"
    default_ecdp_api_key: str = "ecdp-sandbox-key"

    # Largest request body any API path reads before answering in its own error shape.
    max_body_bytes: int = 16 * 1024 * 1024

    @field_validator("database_url")
    @classmethod
    def known_driver(cls, value: str) -> str:
        return normalized_database_url(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
