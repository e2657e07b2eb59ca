"""Evident's one settings object, read from the environment when asked for, never at import.

Everything configurable is here with its environment variable name, so the README's
configuration table and the code cannot drift apart. Factories take a ``Settings`` instance;
tests build their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Configuration from the environment (names in capitals are the variables)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    database_url: str | None = Field(
        default=None,
        alias="DATABASE_URL",
        description="libpq URL of an external PostgreSQL; unset = start the embedded one.",
    )
    data_dir: Path = Field(
        default=Path(".evident"),
        alias="OMS_DATA_DIR",
        description="Where the embedded PostgreSQL and local state live.",
    )
    api_keys: str = Field(
        default="",
        alias="OMS_API_KEYS",
        description="Comma-separated actor:role:key triples.",
    )
    consistency_wait: float = Field(
        default=5.0,
        alias="OMS_CONSISTENCY_WAIT",
        gt=0,
        description="Seconds a read with min_position waits for its read model.",
    )
    pool_size: int = Field(
        default=10, alias="OMS_DB_POOL_SIZE", ge=1, description="Connections per process."
    )
    # A command run by the API server holds its connection from the append until the event
    # loop, busy with other requests under load, gets back to it; with fewer connections than
    # commands in flight, commands queue for them while the loop has nothing to do (measured
    # at 32 concurrent place-orders before OMS_COMMAND_CONCURRENCY: the server at 87-90% of a
    # core with 10 connections, at 98-100% and 7-34% more orders per second with 32). With
    # commands admitted a few at a time, as many connections are opened as are in use.
    command_pool_size: int = Field(
        default=32,
        alias="OMS_DB_COMMAND_POOL_SIZE",
        ge=1,
        description="Connections the API server's commands may use at once, besides "
        "OMS_DB_POOL_SIZE.",
    )
    # interfaces.http.admission says why a few at a time: measured with 32 connections
    # placing orders, p99 latency 31-37 ms with 4 against 57-69 ms with all 32 at once.
    command_concurrency: int = Field(
        default=4,
        alias="OMS_COMMAND_CONCURRENCY",
        ge=1,
        description="Commands an API server process runs at once; the others wait their turn "
        "in arrival order.",
    )
    aggregate_cache: int = Field(
        default=10_000,
        alias="OMS_AGGREGATE_CACHE",
        ge=0,
        description="Aggregates kept in memory per process (brought up to date from the log "
        "on every read); 0 turns the cache off.",
    )
    ready_max_lag: float = Field(
        default=60.0,
        alias="OMS_READY_MAX_LAG",
        gt=0,
        description="Seconds a projection may lag behind the log before /readyz answers 503.",
    )
    host: str = Field(default="127.0.0.1", alias="OMS_HOST")
    port: int = Field(default=8000, alias="OMS_PORT", ge=1, le=65535)
    log_format: Literal["text", "json"] = Field(default="text", alias="OMS_LOG_FORMAT")
    log_level: str = Field(default="INFO", alias="OMS_LOG_LEVEL")
    projection_batch_size: int = Field(
        default=500, alias="OMS_PROJECTION_BATCH_SIZE", ge=1, le=50_000
    )
    care_backorder_age: float = Field(
        default=2 * 24 * 3600,
        alias="OMS_CARE_BACKORDER_AGE",
        ge=0,
        description="Seconds after which a backorder appears in the care queue.",
    )
    projection_poll_interval: float = Field(
        default=1.0,
        alias="OMS_PROJECTION_POLL_INTERVAL",
        gt=0,
        description="Seconds between polls when no NOTIFY arrives.",
    )
