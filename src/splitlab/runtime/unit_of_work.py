"""What every FastAPI route shares, the API's and the dashboard's: the app's settings and
database, and the request's unit of work, taken on a gate slot (``runtime.gates``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from splitlab.config import Settings
from splitlab.runtime.gates import Gates
from splitlab.storage.engine import Database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on error.

    The request first takes a slot of the database gate (``runtime.gates``) in the event loop,
    so that its thread never waits for a pooled connection; GET and HEAD get a read-only
    session (on SQLite: beside the writer, never behind it).
    """
    gates: Gates = request.app.state.gates
    readonly = request.method in ("GET", "HEAD")
    db = get_database(request)
    async with (gates.read if readonly else gates.session).slot():
        session = (db.read_sessionmaker if readonly else db.sessionmaker)()
        try:
            yield session
            await run_in_threadpool(session.commit)
        except BaseException:
            await run_in_threadpool(session.rollback)
            raise
        finally:
            await run_in_threadpool(session.close)


# scope="function": the commit happens before the response goes out, so a 2xx means committed.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
