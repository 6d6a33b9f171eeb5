"""Dashboard sign-in sessions: a random cookie id (hashed at rest) bound to an API token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from splitlab.auth.service import Principal, principal_of
from splitlab.errors import Unauthenticated
from splitlab.storage.base import utcnow
from splitlab.storage.models import ApiToken, DashboardSession, Workspace

COOKIE = "splitlab_session"
LOGIN_COOKIE = "splitlab_login_csrf"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person: their token's principal, the workspace shown, the CSRF secret."""

    principal: Principal
    workspace: Workspace
    csrf_token: str

    def csrf_ok(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(self.csrf_token, sent)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(session: Session, principal: Principal, workspace: Workspace) -> str:
    """Open a session and return the cookie value (shown to the browser only)."""
    cookie = secrets.token_urlsafe(32)
    now = utcnow()
    session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    session.add(
        DashboardSession(
            session_hash=_hash(cookie),
            token_id=principal.token_id,
            workspace_id=workspace.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    session.flush()
    return cookie


def resolve(session: Session, cookie: str | None, *, demo: bool) -> Viewer | None:
    """The viewer behind a cookie, or None (no, unknown, expired session, or a dead token)."""
    if not cookie:
        return None
    row = session.scalars(
        select(DashboardSession).where(DashboardSession.session_hash == _hash(cookie))
    ).one_or_none()
    if row is None or row.expires_at <= utcnow():
        return None
    try:
        # Read-only: GET pages run in read-only sessions; usage is the API's to record.
        principal = principal_of(session.get(ApiToken, row.token_id), demo=demo, touch=False)
    except Unauthenticated:
        return None
    workspace = session.get(Workspace, row.workspace_id)
    if workspace is None or not principal.sees(workspace.id):
        return None
    return Viewer(principal=principal, workspace=workspace, csrf_token=row.csrf_token)


def end(session: Session, cookie: str | None) -> None:
    if cookie:
        session.execute(
            delete(DashboardSession).where(DashboardSession.session_hash == _hash(cookie))
        )
