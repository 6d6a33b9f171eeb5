"""The ``splitlab`` command: serve, migrate, and manage tokens."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import ValidationError

from splitlab import remote_cli
from splitlab.auth import service as auth
from splitlab.auth.tokens import Scope
from splitlab.bootstrap import DEMO_WARNING, bootstrap
from splitlab.config import Settings
from splitlab.errors import AppError
from splitlab.storage.engine import Database
from splitlab.storage.migrate import upgrade
from splitlab.workspaces import service as workspaces

app = typer.Typer(help="Splitlab: self-hosted A/B testing.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(remote_cli.experiments_app, name="experiments")
app.command("results")(remote_cli.results)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL (default: $SPLITLAB_DATABASE_URL or ./splitlab.db)"
    ),
]


def _settings(database_url: str | None, **overrides: object) -> Settings:
    """Settings from the environment, with command-line options exported so workers see them."""
    if database_url:
        os.environ["SPLITLAB_DATABASE_URL"] = database_url
    for name, value in overrides.items():
        os.environ[f"SPLITLAB_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SPLITLAB_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        typer.secho(f"Invalid configuration: {problems}", fg="red", err=True)
        raise typer.Exit(2) from None


def _migrated(settings: Settings) -> Database:
    db = Database(settings.database_url)
    upgrade(db.engine)
    return db


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply database migrations and exit."""
    settings = _settings(database_url)
    _migrated(settings).dispose()
    typer.echo("Database is up to date.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    database_url: DatabaseUrl = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Demo mode: well-known tokens and sample experiments")
    ] = False,
    demo_data: Annotated[
        bool, typer.Option(help="With --demo: fill an empty workspace with sample experiments")
    ] = True,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    gc_tuning: Annotated[
        bool, typer.Option(help="Freeze start-up objects out of the GC and collect less often")
    ] = True,
) -> None:
    """Apply migrations, then serve the API, docs and dashboard."""
    import uvicorn

    overrides: dict[str, object] = {"gc_tuning": gc_tuning}
    if demo:
        overrides["demo"] = True
    settings = _settings(database_url, **overrides)
    db = _migrated(settings)
    secret = bootstrap(db, settings, create_admin_if_none=True, populate_demo=demo_data)
    db.dispose()
    if secret is not None:
        typer.secho("Created an admin API token (shown once, store it now):", fg="yellow")
        typer.echo(f"  {secret}")
    if settings.demo:
        typer.secho(DEMO_WARNING, fg="red", err=True)
        typer.secho(
            f"Dashboard: http://{host}:{port}/  — sign in with the token admin_token_123",
            fg="green",
        )
    if settings.anonymous_scope is not None:
        typer.secho(
            f"ANONYMOUS ACCESS: requests without a token act with '{settings.anonymous_scope}' "
            "scope in every workspace (SPLITLAB_ANONYMOUS_ACCESS=off to refuse them).",
            fg="red",
            err=True,
        )
    typer.echo(f"Splitlab on http://{host}:{port}  (API docs: http://{host}:{port}/api/v1/docs)")
    uvicorn.run(
        "splitlab.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        # Importing the app takes seconds on a loaded small machine; uvicorn's default 5 s
        # health check then kills workers that were merely starting.
        timeout_worker_healthcheck=60,
    )


@token_app.command("create")
def token_create(
    scope: Annotated[
        Scope,
        typer.Option(
            help="admin, experiment or readonly; or sdk: a GrowthBook client key for one "
            "workspace (the default one unless --workspace), safe to ship in a web page"
        ),
    ],
    name: Annotated[str, typer.Option(help="A name to recognise the token by")],
    workspace: Annotated[str | None, typer.Option(help="Bind to this workspace key")] = None,
    description: Annotated[str | None, typer.Option()] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1)] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a token and print its secret (shown once)."""
    from datetime import timedelta

    from splitlab.storage.base import utcnow

    settings = _settings(database_url)
    db = _migrated(settings)
    try:
        with db.session_scope() as session:
            bound = None
            if scope is Scope.SDK and not workspace:
                workspace = settings.default_workspace
            if workspace == settings.default_workspace:
                # The default workspace exists from the start, even before the first `serve`.
                bound = workspaces.ensure(session, workspace, name="Default workspace")
            elif workspace:
                bound = workspaces.require(session, workspace)
            issued = auth.create_token(
                session,
                name=name,
                scope=scope,
                description=description,
                workspace=bound,
                expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
            )
    except AppError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(f"id {issued.token.id}, scope {scope.value}, prefix {issued.token.prefix}")
    typer.echo(issued.secret)


@token_app.command("list")
def token_list(database_url: DatabaseUrl = None) -> None:
    """List tokens (prefixes only)."""
    db = _migrated(_settings(database_url))
    with db.session_scope() as session:
        tokens, _ = auth.list_tokens(session, None, limit=10_000)
        rows = [
            (
                t.id,
                t.prefix,
                t.scope,
                "active" if t.is_active else "revoked",
                t.name,
                t.last_used_at,
            )
            for t in tokens
        ]
    db.dispose()
    typer.echo(f"{'ID':>4}  {'PREFIX':<14} {'SCOPE':<10} {'STATE':<8} {'LAST USED':<20} NAME")
    for token_id, prefix, scope, state, name, last_used in rows:
        used = last_used.strftime("%Y-%m-%d %H:%M") if last_used else "never"
        typer.echo(f"{token_id:>4}  {prefix:<14} {scope:<10} {state:<8} {used:<20} {name}")


@token_app.command("revoke")
def token_revoke(
    ref: Annotated[str, typer.Argument(help="Token id or prefix")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token; every server process refuses it within 2 s (usually under 1 s)."""
    db = _migrated(_settings(database_url))
    try:
        with db.session_scope() as session:
            token = auth.revoke_token(session, ref)
            typer.echo(f"Revoked token {token.id} ({token.prefix}, {token.name}).")
    except AppError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()


def main() -> None:
    app()
