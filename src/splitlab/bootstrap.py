"""Start-up state every process needs: the default workspace and operator-configured tokens."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from splitlab.auth import service as auth
from splitlab.auth.tokens import Scope
from splitlab.config import Settings
from splitlab.storage.engine import Database
from splitlab.workspaces import service as workspaces

log = logging.getLogger("splitlab")

DEMO_WARNING = (
    "DEMO MODE: the well-known tokens admin_token_123, experiment_token_789 and "
    "readonly_token_456 are valid. Never expose a demo server to anyone you don't trust."
)


#: The name of the token ``SPLITLAB_ADMIN_TOKEN`` makes.
OPERATOR_TOKEN_NAME = "admin (SPLITLAB_ADMIN_TOKEN)"


def bootstrap(
    db: Database,
    settings: Settings,
    *,
    create_admin_if_none: bool = False,
    populate_demo: bool = False,
) -> str | None:
    """Idempotently prepare the database; returns a newly minted admin secret, if one was made.

    Safe to run from several workers at once: a lost race on a unique constraint means another
    process did the same work, and the retry finds it done.
    """
    for attempt in range(2):
        try:
            return _bootstrap(
                db, settings, create_admin_if_none=create_admin_if_none, populate_demo=populate_demo
            )
        except IntegrityError:
            if attempt:
                raise
    return None  # pragma: no cover - the loop either returns or raises


def _bootstrap(
    db: Database, settings: Settings, *, create_admin_if_none: bool, populate_demo: bool
) -> str | None:
    with db.session_scope() as session:
        workspace = workspaces.ensure(session, settings.default_workspace, name="Default workspace")
        if settings.demo and populate_demo:
            from splitlab import demo

            if not demo.populate(session, workspace):
                log.warning(
                    "demo mode: workspace %r already has experiments, so no demo data was added "
                    "(start on an empty database for the sample experiments)",
                    workspace.key,
                )
        if settings.admin_token is not None:
            current = auth.ensure_static_token(
                session,
                settings.admin_token.get_secret_value(),
                name=OPERATOR_TOKEN_NAME,
                scope=Scope.ADMIN,
            )
            # The variable says which value is the operator's admin token: that one is on (set
            # an earlier value again to roll a rotation back), any value it held before is off.
            # To turn the operator token off for good, unset or change the variable.
            current.is_active = True
            auth.revoke_static_tokens(session, name=OPERATOR_TOKEN_NAME, keep=current.id)
        if settings.demo:
            for secret, scope in auth.DEMO_TOKENS.items():
                auth.ensure_static_token(
                    session, secret, name=f"demo {scope.value}", scope=scope, is_demo=True
                )
        else:
            auth.remove_demo_tokens(session)
        if create_admin_if_none and auth.token_count(session) == 0:
            issued = auth.create_token(session, name="initial admin", scope=Scope.ADMIN)
            return issued.secret
    return None
