"""Runtime configuration: one pydantic-settings object, read from ``SPLITLAB_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'splitlab.db'}"


class Settings(BaseSettings):
    """Everything a Splitlab process needs to know; nothing is read at import time."""

    model_config = SettingsConfigDict(env_prefix="SPLITLAB_", env_file=None, extra="ignore")

    database_url: str = Field(default_factory=_default_database_url)
    # Seed 000 documents the bare REDIS_URL / REDIS_PASSWORD names; accept both spellings.
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SPLITLAB_REDIS_URL", "REDIS_URL")
    )
    redis_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SPLITLAB_REDIS_PASSWORD", "REDIS_PASSWORD")
    )
    redis_prefix: str = "splitlab"
    admin_token: SecretStr | None = None
    demo: bool = False
    #: What a request *without* a bearer token may do: ``off`` (the default: 401), ``readonly``
    #: or ``experiment`` (never ``admin``). Seed 003 documents "no authentication is required";
    #: this runs its examples as written. Unset, demo mode uses ``experiment`` and every other
    #: server ``off``.
    anonymous_access: Literal["off", "readonly", "experiment"] | None = None
    metrics_public: bool = True
    default_workspace: str = "default"
    sql_echo: bool = False
    #: Serving processes: after start-up, move what is alive out of the cyclic collector's view
    #: and collect the young generation less often (``app.tune_gc``). ``splitlab serve`` turns
    #: it on; embedded apps (tests, other hosts) keep the interpreter's defaults.
    gc_tuning: bool = False
    #: Serve the hot routes from the front door (``runtime.fastpath``); off, FastAPI serves
    #: them (same answers, more work per request). For comparisons and debugging.
    fast_path: bool = True
    #: Origins a browser may call the SDK routes from (the payload, exposures, events):
    #: comma-separated (``https://shop.example,https://www.shop.example``), or ``*`` for any
    #: (the default: sdk keys are public by design and carry no cookies).
    sdk_cors_origins: str = "*"

    @property
    def anonymous_scope(self) -> str | None:
        """The scope an anonymous caller gets, or None when anonymous calls are refused."""
        chosen = self.anonymous_access or ("experiment" if self.demo else "off")
        return None if chosen == "off" else chosen

    @property
    def sdk_cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.sdk_cors_origins.split(",") if o.strip()]
