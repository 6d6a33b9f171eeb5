"""``splitlab experiments …`` and ``splitlab results``: a running server, through the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from splitlab.client import Splitlab, SplitlabError
from splitlab.client.models import Experiment, ExperimentResults, MetricResult

experiments_app = typer.Typer(help="Experiments on a running server.", no_args_is_help=True)

Url = Annotated[
    str | None,
    typer.Option("--url", envvar="SPLITLAB_URL", help="Server URL (default http://127.0.0.1:8000)"),
]
Token = Annotated[str | None, typer.Option("--token", envvar="SPLITLAB_TOKEN", help="API token")]
Workspace = Annotated[
    str | None,
    typer.Option(
        "--workspace", envvar="SPLITLAB_WORKSPACE", help="Workspace key (for an unbound token)"
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the server's JSON instead")]


@contextmanager
def _client(url: str | None, token: str | None, workspace: str | None) -> Iterator[Splitlab]:
    try:
        with Splitlab(url, token, workspace=workspace) as client:
            yield client
    except SplitlabError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


@experiments_app.command("list")
def list_experiments(
    status: Annotated[
        str | None, typer.Option(help="draft, running, paused, completed or cancelled")
    ] = None,
    search: Annotated[str | None, typer.Option(help="Substring of the name or key")] = None,
    url: Url = None,
    token: Token = None,
    workspace: Workspace = None,
    as_json: AsJson = False,
) -> None:
    """List the workspace's experiments."""
    with _client(url, token, workspace) as client:
        items = client.list_experiments(status, search=search)
    if as_json:
        typer.echo(json.dumps([e.model_dump(mode="json") for e in items], indent=2))
        return
    _console().print(experiments_table(items))


def experiments_table(items: list[Experiment]) -> Table | str:
    if not items:
        return "No experiments."
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "KEY", "NAME", "STATUS", "VARIANTS", "STARTED"):
        table.add_column(column, justify="right" if column == "ID" else "left")
    for e in items:
        variants = ", ".join(f"{v.key} {v.allocation:g}%" for v in e.variants)
        started = e.start_date.strftime("%Y-%m-%d %H:%M") if e.start_date else "—"
        table.add_row(str(e.id), e.key, e.name, e.status, variants, started)
    return table


def results(
    experiment: Annotated[str, typer.Argument(help="Experiment key or id")],
    url: Url = None,
    token: Token = None,
    workspace: Workspace = None,
    as_json: AsJson = False,
) -> None:
    """Show an experiment's results: per metric and variant, lift, interval, p-value, verdict."""
    with _client(url, token, workspace) as client:
        document = client.results(experiment)
    if as_json:
        typer.echo(json.dumps(document.as_dict(), indent=2))
        return
    console = _console()
    for block in results_report(document):
        console.print(block)


def percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.2%}" if signed else f"{value:.2%}"


def _num(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def _p(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def metric_table(metric: MetricResult, confidence_level: float) -> Table:
    direction = "higher is better" if metric.higher_is_better else "lower is better"
    title = f"{metric.name}  ({metric.kind}, {metric.role}, {direction})"
    if metric.variance_reduction:
        title += f"  CUPED: {metric.variance_reduction:.0%} less variance"
    table = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False)
    level = f"{confidence_level:.0%}"
    headers = ("VARIANT", "USERS", "RATE" if metric.kind == "conversion" else "MEAN")
    for header in (*headers, "LIFT", f"{level} CI", "P-VALUE", "P(BEAT CTRL)", ""):
        table.add_column(header, justify="left" if header in ("VARIANT", "") else "right")
    comparisons = {c.variant_key: c for c in metric.comparisons}
    for v in metric.variants:
        value = percent(v.mean) if metric.kind == "conversion" else _num(v.mean)
        c = comparisons.get(v.variant_key)
        if c is None:
            table.add_row(v.variant_key, f"{v.users:,}", value, "control", "", "", "", "")
            continue
        low, high = c.relative_ci
        interval = f"[{percent(low, True)}, {percent(high, True)}]" if low is not None else "—"
        p_value = c.p_value_adjusted if c.p_value_adjusted is not None else c.p_value
        verdict = "significant" if c.significant else (c.status if c.status != "ok" else "")
        table.add_row(
            v.variant_key,
            f"{v.users:,}",
            value,
            percent(c.relative_lift, True),
            interval,
            _p(p_value),
            percent(c.chance_to_beat_control),
            verdict,
        )
    return table


def results_report(document: ExperimentResults) -> list[Table | str]:
    srm = document.srm
    srm_line = (
        f"[bold red]Sample ratio mismatch[/] (p = {_p(srm.p_value)}): "
        "the split does not match the allocation; do not trust these results."
        if srm.alarm
        else f"Sample ratio: ok (p = {_p(srm.p_value)})"
    )
    winner = document.winning_variant or "none yet"
    blocks: list[Table | str] = [
        f"[bold]{document.experiment_key}[/]  status {document.status}, "
        f"{document.total_users:,} users, control {document.control_variant}",
        f"Method: {document.method_description}",
        srm_line,
    ]
    blocks += [metric_table(m, document.confidence_level) for m in document.metrics]
    blocks += [f"[bold]Winner:[/] {winner}", f"[bold]Recommendation:[/] {document.recommendation}"]
    return blocks
