"""Failures nobody foresaw still answer in the one error shape: 503 only when a retry can help."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from splitlab.api.handlers import unexpected_error


def raised(run: Callable[[], object]) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        run()
    return caught.value


def answer(exc: Exception) -> tuple[int, dict[str, str], str | None]:
    response = asyncio.run(unexpected_error(None, exc))  # type: ignore[arg-type]
    return (
        response.status_code,
        json.loads(bytes(response.body)),
        response.headers.get("retry-after"),
    )


def test_a_locked_sqlite_database_is_503_and_an_sql_error_is_500(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # holds the write lock
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.connect() as connection:
            busy = raised(lambda: connection.exec_driver_sql("BEGIN IMMEDIATE"))
            broken = raised(lambda: connection.execute(text("SELECT * FROM no_such_table")))
    finally:
        engine.dispose()
        holder.close()
    assert answer(busy) == (
        503,
        {"error": "The database is unavailable; retry later", "code": "unavailable"},
        "1",
    )
    assert answer(broken) == (
        500,
        {"error": "Internal server error", "code": "internal_error"},
        None,
    )
    assert answer(RuntimeError("anything else"))[:2] == (
        500,
        {"error": "Internal server error", "code": "internal_error"},
    )
