"""Dashboard pages. Routes parse the form, call the same services as the API, render a template."""

from __future__ import annotations

import hmac
import json
import math
import secrets
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.routing import Mount, Router

from splitlab.analysis import service as analysis
from splitlab.analytics import data_management
from splitlab.analytics import service as analytics
from splitlab.auth import service as auth
from splitlab.auth.tokens import Scope
from splitlab.dashboard import charts, sessions
from splitlab.dashboard.forms import ExperimentForm
from splitlab.dashboard.sessions import COOKIE, Viewer
from splitlab.errors import (
    AppError,
    BadRequest,
    InvalidState,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from splitlab.experiments import service as experiments
from splitlab.experiments.model import ExperimentStatus
from splitlab.experiments.schemas import ExperimentChanges
from splitlab.runtime.unit_of_work import SessionDep, get_settings
from splitlab.workspaces import service as workspaces

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class PageRoute(APIRoute):
    """A dashboard page: a domain error becomes an HTML page with the error's status.

    The request's session has already rolled back when the error reaches here; the API keeps its
    JSON error shape, but a person clicking a button should not be shown raw JSON.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except AppError as exc:
                return templates.TemplateResponse(
                    request,
                    "error.html",
                    {"viewer": None, "demo": get_settings(request).demo, "error": exc},
                    status_code=exc.status_code,
                )

        return page


router = APIRouter(include_in_schema=False, route_class=PageRoute)


class LoginRequired(Exception):
    """Raised by the viewer dependency; rendered as a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def get_viewer(request: Request, session: SessionDep) -> Viewer:
    viewer = sessions.resolve(session, request.cookies.get(COOKIE), demo=get_settings(request).demo)
    if viewer is None or not viewer.principal.can(Scope.READONLY):
        # (An sdk client key never signs in; the check also covers sessions from before.)
        # Come back to the page after signing in; a form post has no page to come back to.
        query = f"?{request.url.query}" if request.url.query else ""
        raise LoginRequired(f"{request.url.path}{query}" if request.method == "GET" else "/")
    return viewer


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def _require(viewer: Viewer, scope: Scope) -> None:
    if not viewer.principal.can(scope):
        raise PermissionDenied(f"This needs a token with '{scope.value}' scope")


def _check_csrf(viewer: Viewer, token: str | None) -> None:
    if not viewer.csrf_ok(token):
        raise PermissionDenied("The form expired or did not come from this site; reload and retry")


def render(
    request: Request, template: str, viewer: Viewer | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    base: dict[str, Any] = {"viewer": viewer, "demo": get_settings(request).demo}
    if viewer is not None:
        base |= {
            "can_write": viewer.principal.can(Scope.EXPERIMENT),
            "is_admin": viewer.principal.can(Scope.ADMIN),
            "csrf": viewer.csrf_token,
        }
    return templates.TemplateResponse(request, template, base | context, status_code=status_code)


def _is_local_path(url: str) -> bool:
    """A path on this site, not a way out of it.

    Browsers read ``//host`` and ``/\\host`` as another site, and drop tabs and newlines first
    (so ``/<tab>/host`` is ``//host`` too).
    """
    if any(c <= " " or c == "\\" for c in url):
        return False
    return url.startswith("/") and not url.startswith("//")


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- sign in / out --------------------------------------------------------------------------


def _login_form(
    request: Request, *, status_code: int = 200, next: str, workspace: str, error: str | None
) -> HTMLResponse:
    """The sign-in form with a fresh CSRF pair: the same random value in a cookie and the form.

    There is no session to hold a secret before sign-in, so the form uses the double-submit
    pattern; it stops another site from signing a browser in with the attacker's token.
    """
    csrf = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        next=next,
        workspace=workspace,
        error=error,
        login_csrf=csrf,
    )
    response.set_cookie(
        sessions.LOGIN_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=3600,
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _login_form(request, next=next, workspace="", error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form()] = "",
    workspace: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    settings = get_settings(request)
    expected = request.cookies.get(sessions.LOGIN_COOKIE, "")
    if not (expected and csrf and hmac.compare_digest(expected, csrf)):
        return _login_form(
            request,
            status_code=403,
            next=next,
            workspace=workspace,
            error="The sign-in form expired or did not come from this site; sign in again",
        )
    try:
        principal = auth.authenticate(session, token.strip(), demo=settings.demo)
        if principal.workspace_id is not None:
            shown = workspaces.get_by_id(session, principal.workspace_id)
        else:
            shown = workspaces.get_by_key(session, workspace.strip() or settings.default_workspace)
        if shown is None:
            raise NotFound("No such workspace")
    except (Unauthenticated, NotFound) as exc:
        message = (
            "That token is not valid (or has been revoked)"
            if isinstance(exc, Unauthenticated)
            else f"Workspace '{workspace}' does not exist"
        )
        return _login_form(
            request,
            status_code=401 if isinstance(exc, Unauthenticated) else 404,
            next=next,
            workspace=workspace,
            error=message,
        )
    if not principal.can(Scope.READONLY):
        return _login_form(
            request,
            status_code=403,
            next=next,
            workspace=workspace,
            error="An sdk client key cannot sign in: use an API token",
        )
    cookie = sessions.start(session, principal, shown)
    target = next if _is_local_path(next) else "/"
    response = _see_other(target)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(sessions.LIFETIME.total_seconds()),
        path="/",
    )
    response.delete_cookie(sessions.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request, session: SessionDep, viewer: ViewerDep, csrf: Annotated[str, Form()] = ""
) -> Response:
    _check_csrf(viewer, csrf)
    sessions.end(session, request.cookies.get(COOKIE))
    response = _see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


# -- experiments ----------------------------------------------------------------------------


def _exposure_counts(session: Session, viewer: Viewer) -> dict[int, int]:
    return {
        row["id"]: row["exposures"]
        for row in analytics.experiments_overview(session, viewer.workspace)
    }


@router.get("/", response_class=HTMLResponse)
def experiments_page(
    request: Request, session: SessionDep, viewer: ViewerDep, status: str = "", q: str = ""
) -> HTMLResponse:
    statuses = [ExperimentStatus(status)] if status in set(ExperimentStatus) else None
    page = experiments.list_experiments(
        session, viewer.workspace, statuses=statuses, search=q or None, size=100
    )
    counts = _exposure_counts(session, viewer)
    # Only experiments with exposures have anything to analyse.
    headlines = {
        e.id: _headline(session, viewer, e.key) if counts.get(e.id) else None for e in page.items
    }
    return render(
        request,
        "experiments.html",
        viewer,
        experiments=page.items,
        total=page.total,
        counts=counts,
        headlines=headlines,
        status=status,
        q=q,
        statuses=[s.value for s in ExperimentStatus],
    )


def _headline(session: Session, viewer: Viewer, key: str) -> dict[str, Any] | None:
    results = _results(session, viewer, key)
    if not results["metrics"]:
        return None
    # The headline is the verdict's metric: the primary one, wherever it is in the list.
    primary = next(
        (m for m in results["metrics"] if m["name"] == results.get("primary_metric")),
        results["metrics"][0],
    )
    best = None
    for comparison in primary.get("comparisons", []):
        lift = comparison.get("relative_lift")
        if lift is None or not math.isfinite(lift):
            continue
        if best is None or abs(lift) > abs(best["relative_lift"]):
            best = comparison
    return {
        "metric": primary["name"],
        "higher_is_better": primary.get("higher_is_better", True),
        "comparison": best,
        "srm": results["srm"]["alarm"],
        "winner": results.get("winning_variant"),
    }


def _results(session: Session, viewer: Viewer, key: str) -> dict[str, Any]:
    return analysis.experiment_results(session, viewer.workspace, key).model_dump(mode="json")


@router.get("/experiments/new", response_class=HTMLResponse)
def new_experiment(request: Request, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, Scope.EXPERIMENT)
    return render(request, "experiment_form.html", viewer, form=ExperimentForm(), editing=None)


async def form_data(request: Request) -> FormData:
    """The submitted form, read before the (synchronous) route runs in the request's session."""
    return await request.form()


FormDep = Annotated[FormData, Depends(form_data)]


@router.post("/experiments/new", response_class=HTMLResponse)
def create_experiment(
    request: Request, session: SessionDep, viewer: ViewerDep, submitted: FormDep
) -> Response:
    _check_csrf(viewer, str(submitted.get("csrf", "")))
    _require(viewer, Scope.EXPERIMENT)
    form = ExperimentForm.from_form(submitted)
    spec = form.to_spec()
    if spec is not None:
        try:
            with session.begin_nested():
                experiment = experiments.create_experiment(
                    session, viewer.workspace, spec, actor=viewer.principal.actor
                )
            return _see_other(f"/experiments/{experiment.key}")
        except AppError as exc:
            form.absorb(exc)
    return render(request, "experiment_form.html", viewer, status_code=422, form=form, editing=None)


@router.get("/experiments/{key}", response_class=HTMLResponse)
def experiment_page(
    request: Request, session: SessionDep, viewer: ViewerDep, key: str
) -> HTMLResponse:
    experiment = experiments.get_experiment(session, viewer.workspace, key)
    _, history = experiments.lifecycle_history(session, viewer.workspace, key)
    results = _results(session, viewer, key)
    control = results.get("control_variant", "control")
    forest = [
        _both(
            charts.forest_plot,
            [
                charts.Interval(
                    label=c["variant_key"],
                    estimate=_num(c.get("relative_lift")),
                    lower=_num((c.get("relative_ci") or [None, None])[0]),
                    upper=_num((c.get("relative_ci") or [None, None])[1]),
                    significant=bool(c.get("significant")),
                    positive_is_good=metric.get("higher_is_better", True),
                )
                for c in metric.get("comparisons", [])
            ],
            title=f"{metric['name']}: relative lift vs {control}",
        )
        for metric in results.get("metrics", [])
    ]
    reports = analytics.daily_reports(
        session, viewer.workspace, experiment_id=experiment.id, days=3650
    )
    series: dict[str, list[tuple[date, int]]] = {v.key: [] for v in experiment.variants}
    for row in reports:
        if row.exposures:
            series.setdefault(row.variant_key, []).append(
                (date.fromisoformat(str(row.day)), row.exposures)
            )
    exposures_chart = _both(
        charts.cumulative_exposures, series, title="Cumulative exposed users per variant"
    )
    base_url = str(request.base_url).rstrip("/")
    return render(
        request,
        "experiment.html",
        viewer,
        experiment=experiment,
        history=history,
        results=results,
        forest=forest,
        exposures_chart=exposures_chart,
        base_url=base_url,
    )


def _both(draw: Callable[..., str], *args: Any, **kwargs: Any) -> dict[str, str]:
    """A chart in the desktop and the phone layout; the stylesheet shows the one that fits."""
    return {
        "wide": draw(*args, width=charts.WIDE, **kwargs),
        "compact": draw(*args, width=charts.COMPACT, **kwargs),
    }


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _editable(status: str) -> None:
    """A completed or cancelled experiment is a record of a decision: no form changes it."""
    if ExperimentStatus(status).is_final:
        raise InvalidState(f"A {status} experiment cannot be edited", code="invalid_state")


@router.get("/experiments/{key}/edit", response_class=HTMLResponse)
def edit_experiment(
    request: Request, session: SessionDep, viewer: ViewerDep, key: str
) -> HTMLResponse:
    _require(viewer, Scope.EXPERIMENT)
    experiment = experiments.get_experiment(session, viewer.workspace, key)
    _editable(experiment.status)
    targeting = experiment.targeting or {}
    form = ExperimentForm(
        key=experiment.key,
        name=experiment.name,
        description=experiment.description or "",
        hypothesis=experiment.hypothesis or "",
        variants=[
            {"key": v.key, "name": v.name, "allocation": f"{v.allocation:g}"}
            for v in experiment.variants
        ],
        control=str(next((i for i, v in enumerate(experiment.variants) if v.is_control), 0)),
        percentage=f"{targeting.get('percentage', 100):g}",
        roles=", ".join(targeting.get("roles", [])),
        condition=json.dumps(targeting["condition"]) if targeting.get("condition") else "",
        confidence_level=f"{experiment.confidence_level:g}",
        min_sample_size=str(experiment.min_sample_size),
        minimum_detectable_effect=f"{experiment.minimum_detectable_effect * 100:g}",
        sticky_bucketing=experiment.sticky_bucketing,
        override_enabled=experiment.override_enabled,
        sequential_testing=experiment.sequential_testing,
        cuped=experiment.cuped,
    )
    return render(request, "experiment_form.html", viewer, form=form, editing=experiment)


@router.post("/experiments/{key}/edit", response_class=HTMLResponse)
def update_experiment(
    request: Request, session: SessionDep, viewer: ViewerDep, submitted: FormDep, key: str
) -> Response:
    _check_csrf(viewer, str(submitted.get("csrf", "")))
    _require(viewer, Scope.EXPERIMENT)
    form = ExperimentForm.from_form(submitted)
    experiment = experiments.get_experiment(session, viewer.workspace, key)
    _editable(experiment.status)
    spec = form.to_spec()
    if spec is not None:
        # What the form does not show is kept as it is: a namespace (or any other targeting
        # the form has no field for) and each variant's config.
        kept = {
            name: value
            for name, value in (experiment.targeting or {}).items()
            if name not in ExperimentForm.TARGETING_FIELDS
        }
        changes: dict[str, Any] = {
            "name": spec.name,
            "description": spec.description,
            "hypothesis": spec.hypothesis,
            "targeting": {**kept, **spec.targeting},
            **spec.settings.model_dump(include=set(ExperimentForm.SETTING_FIELDS)),
        }
        if spec.variants:
            # Sent (a draft's form; a started one's are disabled and not sent): the service
            # refuses a change once the experiment has started, as it does through the API.
            configs = {v.key: v.config or {} for v in experiment.variants}
            changes["variants"] = [
                v if v.config else v.model_copy(update={"config": configs.get(v.key, {})})
                for v in spec.variants
            ]
        if spec.key:
            changes["key"] = spec.key
        try:
            with session.begin_nested():
                updated = experiments.update_experiment(
                    session,
                    viewer.workspace,
                    key,
                    ExperimentChanges(**changes),
                    actor=viewer.principal.actor,
                )
            return _see_other(f"/experiments/{updated.key}")
        except AppError as exc:
            form.absorb(exc)
    return render(
        request, "experiment_form.html", viewer, status_code=422, form=form, editing=experiment
    )


@router.post("/experiments/{key}/lifecycle")
def lifecycle(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    key: str,
    action: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
    winning_variant: Annotated[str, Form()] = "",
    notes: Annotated[str, Form()] = "",
) -> Response:
    _check_csrf(viewer, csrf)
    _require(viewer, Scope.EXPERIMENT)
    actor = viewer.principal.actor
    if action == "start":
        experiments.start_experiment(session, viewer.workspace, key, actor=actor)
    elif action == "pause":
        experiments.pause_experiment(session, viewer.workspace, key, actor=actor)
    elif action == "conclude":
        experiments.conclude_experiment(
            session,
            viewer.workspace,
            key,
            actor=actor,
            winning_variant=winning_variant or None,
            notes=notes or None,
        )
    elif action == "cancel":
        experiments.cancel_experiment(session, viewer.workspace, key, actor=actor)
    else:
        raise BadRequest(f"Unknown action '{action}'")
    return _see_other(f"/experiments/{key}")


# -- admin ----------------------------------------------------------------------------------


@router.get("/admin/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, session: SessionDep, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, Scope.ADMIN)
    tokens, _ = auth.list_tokens(session, viewer.principal, limit=1000)
    return render(
        request,
        "tokens.html",
        viewer,
        tokens=tokens,
        created=None,
        error=None,
        scopes=[s.value for s in Scope],
    )


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    session: SessionDep,
    viewer: ViewerDep,
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "readonly",
    bind: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> HTMLResponse:
    _check_csrf(viewer, csrf)
    _require(viewer, Scope.ADMIN)
    created, error = None, None
    if not name.strip():
        error = "Give the token a name"
    elif scope not in set(Scope):
        error = "Choose a scope"
    else:
        try:
            with session.begin_nested():
                # An sdk key is always bound: to the workspace the admin is looking at.
                bound = bind == "on" or viewer.principal.workspace_id or scope == Scope.SDK
                workspace = viewer.workspace if bound else None
                created = auth.create_token(
                    session,
                    name=name.strip(),
                    scope=Scope(scope),
                    workspace=workspace,
                    issuer=viewer.principal,
                )
        except AppError as exc:
            error = exc.message
    tokens, _ = auth.list_tokens(session, viewer.principal, limit=1000)
    page = render(
        request,
        "tokens.html",
        viewer,
        status_code=201 if created else 422 if error else 200,
        tokens=tokens,
        created=created,
        error=error,
        scopes=[s.value for s in Scope],
    )
    page.headers["Cache-Control"] = "no-store"  # the page shows the new secret once
    return page


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(
    session: SessionDep, viewer: ViewerDep, token_id: int, csrf: Annotated[str, Form()] = ""
) -> Response:
    _check_csrf(viewer, csrf)
    _require(viewer, Scope.ADMIN)
    auth.update_token(session, viewer.principal, token_id, is_active=False, fields={"is_active"})
    return _see_other("/admin/tokens")


@router.get("/admin/data", response_class=HTMLResponse)
def data_page(request: Request, session: SessionDep, viewer: ViewerDep) -> HTMLResponse:
    _require(viewer, Scope.ADMIN)
    counts = analytics.record_counts(session, viewer.workspace)
    oldest, newest = analytics.event_time_range(session, viewer.workspace)
    size = data_management.database_size(session) if viewer.principal.workspace_id is None else None
    return render(
        request, "data.html", viewer, counts=counts, oldest=oldest, newest=newest, size=size
    )


def install(app: Any, *, static: Sequence[Mount] = ()) -> None:
    """Mount the dashboard: pages, static files (and ``static``'s, mounted under ``/static``
    too), and the sign-in redirect."""
    from fastapi.staticfiles import StaticFiles

    app.include_router(router)
    files = StaticFiles(directory=Path(__file__).parent / "static")
    app.mount("/static", Router([*static, Mount("", app=files)]), name="static")

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        from urllib.parse import quote

        return _see_other(f"/login?next={quote(exc.next_url)}")

    app.add_exception_handler(LoginRequired, login_required)
