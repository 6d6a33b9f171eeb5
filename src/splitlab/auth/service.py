"""Token use cases: create, authenticate, list, update, revoke, bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from splitlab.auth.tokens import (
    Scope,
    display_prefix,
    generate_secret,
    hash_secret,
    hashes_match,
)
from splitlab.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from splitlab.storage.base import as_id, utcnow
from splitlab.storage.models import ApiToken, Workspace

#: ``last_used_at`` is refreshed at most this often, so reads don't all become writes.
LAST_USED_GRANULARITY = timedelta(seconds=60)

DEMO_TOKENS: dict[str, Scope] = {
    "admin_token_123": Scope.ADMIN,
    "experiment_token_789": Scope.EXPERIMENT,
    "readonly_token_456": Scope.READONLY,
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's identity, scope and the workspace it is bound to (if any)."""

    token_id: int
    name: str
    scope: Scope
    workspace_id: int | None

    @property
    def actor(self) -> str:
        return "anonymous" if self.is_anonymous else f"token:{self.name}"

    @property
    def is_anonymous(self) -> bool:
        return self.token_id == ANONYMOUS_TOKEN_ID

    def can(self, needed: Scope) -> bool:
        return self.scope.allows(needed)

    def sees(self, workspace_id: int) -> bool:
        return self.workspace_id is None or self.workspace_id == workspace_id


#: No stored token has id 0: the anonymous caller's principal (``anonymous``).
ANONYMOUS_TOKEN_ID = 0


def anonymous(scope: str | None) -> Principal | None:
    """The principal of a request without a token, when the server accepts those (else None).

    Unbound (it may name any workspace, as seed 003's callers do) and never above ``experiment``:
    it can't mint tokens or delete data.
    """
    if scope is None:
        return None
    granted = Scope(scope)
    if not Scope.EXPERIMENT.allows(granted) or granted is Scope.SDK:
        raise ValueError(f"anonymous access can't be {scope!r}")
    return Principal(
        token_id=ANONYMOUS_TOKEN_ID, name="anonymous", scope=granted, workspace_id=None
    )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    secret: str


def authenticate(session: Session, secret: str | None, *, demo: bool) -> Principal:
    """Resolve a bearer secret to a principal; every failure is the same 401."""
    if not secret:
        raise Unauthenticated("Missing bearer token")
    digest = hash_secret(secret)
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
    if token is None or not hashes_match(token.token_hash, digest):
        raise Unauthenticated("Invalid, revoked or expired token")
    return principal_of(token, demo=demo)


def principal_of(token: ApiToken | None, *, demo: bool, touch: bool = True) -> Principal:
    """The principal of a stored token, or 401 if it is revoked, expired or demo-only.
    ``touch``: refresh its ``last_used_at`` (a write; not in read-only sessions)."""
    now = utcnow()
    if (
        token is None
        or not token.is_active
        or (token.is_demo and not demo)
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise Unauthenticated("Invalid, revoked or expired token")
    if touch and (token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY):
        token.last_used_at = now
    return Principal(
        token_id=token.id,
        name=token.name,
        scope=Scope(token.scope),
        workspace_id=token.workspace_id,
    )


def _insert(
    session: Session,
    *,
    secret: str,
    name: str,
    scope: Scope,
    description: str | None = None,
    workspace: Workspace | None = None,
    expires_at: datetime | None = None,
    created_by: str | None = None,
    is_demo: bool = False,
) -> ApiToken:
    now = utcnow()
    token = ApiToken(
        name=name,
        description=description,
        scope=scope.value,
        workspace_id=workspace.id if workspace else None,
        prefix=display_prefix(secret),
        token_hash=hash_secret(secret),
        is_active=True,
        is_demo=is_demo,
        expires_at=expires_at,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    session.add(token)
    session.flush()
    return token


def create_token(
    session: Session,
    *,
    name: str,
    scope: Scope,
    description: str | None = None,
    workspace: Workspace | None = None,
    expires_at: datetime | None = None,
    issuer: Principal | None = None,
) -> IssuedToken:
    """Issue a token. A caller can never mint more than it has: no higher scope, no wider reach."""
    if scope is Scope.SDK and workspace is None:
        raise ValidationFailed(
            "An sdk token must be bound to a workspace",
            details=[{"loc": ["workspace"], "msg": "required for scope sdk", "type": "missing"}],
        )
    if issuer is not None:
        # An sdk key reads the payload and writes exposures and events: an experiment writer's
        # reach, in one workspace.
        if not issuer.can(Scope.EXPERIMENT if scope is Scope.SDK else scope):
            raise PermissionDenied("A token cannot create a token with a higher scope than its own")
        if issuer.workspace_id is not None and (
            workspace is None or workspace.id != issuer.workspace_id
        ):
            raise PermissionDenied(
                "A workspace-bound token can only create tokens in its workspace"
            )
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed(
            "expires_at must be in the future",
            details=[
                {"loc": ["expires_at"], "msg": "must be in the future", "type": "value_error"}
            ],
        )
    secret = generate_secret()
    token = _insert(
        session,
        secret=secret,
        name=name,
        scope=scope,
        description=description,
        workspace=workspace,
        expires_at=expires_at,
        created_by=issuer.actor if issuer else "cli",
    )
    return IssuedToken(token=token, secret=secret)


def _visible(principal: Principal | None) -> list[ColumnElement[bool]]:
    if principal is None or principal.workspace_id is None:
        return []
    return [ApiToken.workspace_id == principal.workspace_id]


def list_tokens(
    session: Session, principal: Principal | None, *, offset: int = 0, limit: int = 100
) -> tuple[list[ApiToken], int]:
    conditions = _visible(principal)
    total = session.scalar(select(func.count()).select_from(ApiToken).where(*conditions)) or 0
    rows = session.scalars(
        select(ApiToken).where(*conditions).order_by(ApiToken.id).offset(offset).limit(limit)
    )
    return list(rows), total


def get_token(session: Session, principal: Principal | None, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id) if as_id(token_id) is not None else None
    if token is None or (
        principal is not None
        and principal.workspace_id is not None
        and token.workspace_id != principal.workspace_id
    ):
        raise NotFound("API token not found", code="token_not_found")
    return token


def update_token(
    session: Session,
    principal: Principal | None,
    token_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
    fields: set[str],
) -> ApiToken:
    token = get_token(session, principal, token_id)
    if "name" in fields and name is not None:
        token.name = name
    if "description" in fields:
        token.description = description
    if "is_active" in fields and is_active is not None:
        if not is_active:
            _not_the_last_way_in(session, principal, token)
        token.is_active = is_active
    token.updated_at = utcnow()
    session.flush()
    return token


def delete_token(session: Session, principal: Principal | None, token_id: int) -> None:
    token = get_token(session, principal, token_id)
    _not_the_last_way_in(session, principal, token)
    session.delete(token)
    session.flush()


def _not_the_last_way_in(session: Session, principal: Principal | None, token: ApiToken) -> None:
    """A caller may not delete or turn off its own token when it is the last active unbound
    admin token: every later request would be a 401, and only a shell command on the server
    could let anyone back in. Another admin token, or the CLI, can."""
    if principal is None or principal.token_id != token.id:
        return
    if token.scope != Scope.ADMIN.value or token.workspace_id is not None:
        return
    others = session.scalar(
        select(func.count())
        .select_from(ApiToken)
        .where(
            ApiToken.id != token.id,
            ApiToken.scope == Scope.ADMIN.value,
            ApiToken.workspace_id.is_(None),
            ApiToken.is_active.is_(True),
            ApiToken.expires_at.is_(None) | (ApiToken.expires_at > utcnow()),
        )
    )
    if not others:
        raise Conflict(
            "This is the last active admin token and the one making this call: create another "
            "admin token first (or revoke it on the server with `splitlab token revoke`)",
            code="last_admin_token",
        )


def revoke_token(session: Session, ref: str) -> ApiToken:
    """Deactivate by id or display prefix (the CLI's ``token revoke``)."""
    token_id = as_id(ref)
    query = select(ApiToken)
    query = (
        query.where(ApiToken.id == token_id)
        if token_id is not None
        else query.where(ApiToken.prefix == ref)
    )
    matches = list(session.scalars(query))
    if len(matches) != 1:
        raise NotFound(f"No single token matches '{ref}'", code="token_not_found")
    matches[0].is_active = False
    matches[0].updated_at = utcnow()
    return matches[0]


def token_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(ApiToken)) or 0


def ensure_static_token(
    session: Session, secret: str, *, name: str, scope: Scope, is_demo: bool = False
) -> ApiToken:
    """Make an operator-chosen secret (``SPLITLAB_ADMIN_TOKEN``, demo tokens) a valid token."""
    digest = hash_secret(secret)
    token = session.scalars(select(ApiToken).where(ApiToken.token_hash == digest)).one_or_none()
    if token is not None:
        token.prefix = display_prefix(secret)  # heals rows stored before prefixes were capped
        return token
    return _insert(
        session, secret=secret, name=name, scope=scope, created_by="bootstrap", is_demo=is_demo
    )


def revoke_static_tokens(session: Session, *, name: str, keep: int) -> int:
    """Turn off the operator-chosen tokens called ``name`` other than ``keep``: the values the
    operator's variable held before. Answers how many were still on."""
    result = session.execute(
        update(ApiToken)
        .where(
            ApiToken.name == name,
            ApiToken.created_by == "bootstrap",
            ApiToken.is_demo.is_(False),
            ApiToken.id != keep,
            ApiToken.is_active.is_(True),
        )
        .values(is_active=False, updated_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def remove_demo_tokens(session: Session) -> int:
    result = session.execute(delete(ApiToken).where(ApiToken.is_demo.is_(True)))
    return int(getattr(result, "rowcount", 0) or 0)
