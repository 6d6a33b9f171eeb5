"""The database's failures in the app's words: a retry cures some (503), the rest are bugs (500).

Both HTTP adapters answer an unforeseen exception with :func:`unexpected_answer`: the FastAPI
app's last-resort handler (``api.handlers``) and the front door's fast path
(``runtime.fastpath``).
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

from splitlab.errors import AppError, InternalError, Unavailable


def _database_unavailable(exc: Exception) -> bool:
    """The database could not be reached or was busy: a lost connection, or SQLite's lock
    held past ``busy_timeout``. Not any ``OperationalError``: sqlite3 raises that for SQL
    errors too, which a retry would never cure."""
    if isinstance(exc, SQLAlchemyTimeoutError):
        return True  # a pool checkout that timed out
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if getattr(exc.orig, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return True
    # PostgreSQL: could not connect, the connection broke, a statement timed out or was
    # cancelled, a deadlock or serialization failure: all cured by a retry.
    return isinstance(
        exc.orig,
        psycopg.errors.ConnectionException
        | psycopg.errors.QueryCanceled
        | psycopg.errors.AdminShutdown
        | psycopg.errors.TransactionRollback
        | psycopg.OperationalError,
    )


def unexpected_answer(exc: Exception) -> AppError:
    """What an unforeseen exception answers: 503 when a retry can help, else 500."""
    if _database_unavailable(exc):
        return Unavailable("The database is unavailable; retry later")
    return InternalError("Internal server error")
