"""Declarative base and the column types every model shares.

The naming convention gives every constraint a stable name, which Alembic needs to alter constraints
on SQLite (batch mode) and which keeps migrations identical across SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON everywhere, JSONB on PostgreSQL (indexable, compact).
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite has no timezone type, so values are stored naive in UTC and re-tagged on the way out;
    PostgreSQL stores ``timestamptz``. Naive datetimes are rejected rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def sqlite_time(value: Any) -> str:
    """``value`` exactly as ``UTCDateTime`` stores it on SQLite (naive UTC, always with
    microseconds), for statements that bind timestamps as text: SQLite compares them as text,
    so any other format would sort wrongly against the stored ones."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError(f"not a timezone-aware datetime: {value!r}")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


#: The largest integer every supported backend can bind (SQLite INTEGER, PostgreSQL BIGINT).
#: Anything larger names no row, and sending it to the database would be an error, not a miss.
MAX_ID = 2**63 - 1


#: The largest value of an ``INTEGER`` column on every backend (PostgreSQL's is 32 bits): the
#: ids of experiments, variants, tokens and workspaces, and integer settings such as
#: ``min_sample_size`` and ``bucket_version``. A larger number names no row and would be an
#: error to bind, not a miss.
MAX_INT = 2**31 - 1


def as_id(ref: str | int) -> int | None:
    """``ref`` as a row id when it can be one (ASCII digits, within ``MAX_INT``), else None.

    ``str.isdigit`` alone is not enough: it accepts ``"²"``, which ``int()`` refuses.
    """
    if isinstance(ref, str):
        if not (ref.isascii() and ref.isdigit()):
            return None
        ref = int(ref)
    return ref if 0 <= ref <= MAX_INT else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}
