"""`dreamseed irt`: item calibration and CAT simulation from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

# numpy, pyarrow and the engine are imported inside the commands: `dreamseed irt --help`
# needs none of them.


def _parse_pair(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = value.split(",")
    if len(parts) != 2:
        raise click.BadParameter(f"expected two comma-separated numbers, got {value!r}")
    return float(parts[0]), float(parts[1])


@click.group()
def irt() -> None:
    """Item response theory: calibration and adaptive-test simulation."""


@irt.command()
@click.option(
    "--model",
    type=click.Choice(["rasch", "1pl", "2pl", "3pl", "grm"]),
    default="2pl",
    show_default=True,
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV or Parquet, one column per item (blank/null = missing), integer codes.",
)
@click.option("--weight-column", default=None, help="Column of pattern frequencies.")
@click.option(
    "--long/--wide",
    "long_format",
    default=None,
    help="Long Parquet: one row per response (person, item, response), calibrated by streaming "
    "chunks of persons (memory bounded; persons sorted, else a sorted copy is made). "
    "Default: long when the Parquet file has those columns.",
)
@click.option(
    "--columns",
    default="person,item,response",
    show_default=True,
    help="Person, item and response columns of a long file.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True
)
@click.option("--se/--no-se", default=False, show_default=True, help="Oakes standard errors.")
@click.option("--tol", type=float, default=1e-4, show_default=True)
@click.option("--max-iter", type=int, default=2000, show_default=True)
@click.option("--slope-prior", default=None, help="meanlog,sdlog of a lognormal slope prior.")
@click.option(
    "--guessing-prior",
    default=None,
    help="alpha,beta of a Beta prior on c (3PL); default 5,17 for --model 3pl.",
)
def calibrate(
    model: str,
    input_path: Path,
    weight_column: str | None,
    long_format: bool | None,
    columns: str,
    fmt: str,
    se: bool,
    tol: float,
    max_iter: int,
    slope_prior: str | None,
    guessing_prior: str | None,
) -> None:
    """Calibrate items by marginal maximum likelihood (EM)."""
    from cli.irt_input import InputError, file_kind, read_wide

    gp = _parse_pair(guessing_prior)
    if model == "3pl" and gp is None:
        gp = (5.0, 17.0)
    options: dict[str, Any] = {
        "standard_errors": se,
        "tol": tol,
        "max_iter": max_iter,
        "slope_prior": _parse_pair(slope_prior),
        "guessing_prior": gp,
    }
    try:
        kind = file_kind(input_path)
        long_columns = [c.strip() for c in columns.split(",")]
        if long_format is None:
            long_format = kind == "parquet" and _is_long(input_path, long_columns)
        if long_format:
            if kind != "parquet":
                raise InputError("a long file must be Parquet")
            if weight_column is not None:
                raise InputError("--weight-column applies to wide files only")
            result = _calibrate_long(input_path, long_columns, model, options)
        else:
            from psychometrics import calibrate as fit

            wide = read_wide(input_path, weight_column)
            options.update(weights=wide.weights, item_names=wide.items)
            result = fit(wide.codes, model, **options)
    except InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--input") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    out = result.to_dict()
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{model} calibration — logL {result.log_likelihood:.3f}, "
        f"{result.iterations} EM steps, converged={result.converged}"
    )
    for col in ("item", "a", "d", "b", "c", "se(a)", "se(d)"):
        table.add_column(col, justify="right" if col != "item" else "left")

    def fmt_num(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, list):
            return " ".join(fmt_num(x) for x in v)
        return f"{v:.4f}"

    for row in out["items"]:
        table.add_row(
            row["item"],
            fmt_num(row["a"]),
            fmt_num(row["d"]),
            fmt_num(row["b"]),
            fmt_num(row["c"]),
            fmt_num(row["se"].get("a")),
            fmt_num(row["se"].get("d")),
        )
    Console().print(table)
    click.echo(f"AIC {result.aic:.3f}  BIC {result.bic:.3f}  {result.convergence.message}")


def _is_long(path: Path, columns: list[str]) -> bool:
    """A Parquet file with the long columns (and at most one more) holds one row per response."""
    import pyarrow.parquet as pq

    names = set(pq.read_schema(path).names)
    return set(columns) <= names and len(names) <= len(columns) + 1


def _calibrate_long(path: Path, columns: list[str], model: str, options: dict[str, Any]) -> Any:
    """Stream a long Parquet file through the chunked E-step (psychometrics.stream)."""
    from cli.irt_input import InputError
    from lake.response_stream import ResponseFileError, open_parquet_responses
    from psychometrics.stream import calibrate_stream

    try:
        source = open_parquet_responses(path, columns)
    except ResponseFileError as exc:
        raise InputError(str(exc)) from exc
    with source:
        try:
            return calibrate_stream(source, model, **options)
        except ResponseFileError as exc:
            raise InputError(str(exc)) from exc


@irt.command("simulate-cat")
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON item bank (output of `irt calibrate`); default: simulated.",
)
@click.option(
    "--items",
    "n_items",
    type=int,
    default=500,
    show_default=True,
    help="Size of the simulated 2PL bank when --bank is not given.",
)
@click.option("--examinees", type=int, default=1000, show_default=True)
@click.option(
    "--selection",
    type=click.Choice(["mfi", "kl", "astrat", "random"]),
    default="mfi",
    show_default=True,
)
@click.option(
    "--exposure",
    type=click.Choice(["none", "randomesque", "sympson-hetter"]),
    default="none",
    show_default=True,
)
@click.option("--randomesque-k", type=int, default=5, show_default=True)
@click.option("--se-target", type=float, default=0.3, show_default=True)
@click.option("--min-items", type=int, default=1, show_default=True)
@click.option("--max-items", type=int, default=40, show_default=True)
@click.option("--cut-score", type=float, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True
)
def simulate_cat(
    bank_path: Path | None,
    n_items: int,
    examinees: int,
    selection: str,
    exposure: str,
    randomesque_k: int,
    se_target: float,
    min_items: int,
    max_items: int,
    cut_score: float | None,
    seed: int,
    fmt: str,
) -> None:
    """Simulate adaptive tests: mean length, RMSE of θ and exposure rates."""
    import numpy as np

    from psychometrics import CATConfig, ItemParameters
    from psychometrics import simulate_cat as run

    rng = np.random.default_rng(seed)
    if bank_path is not None:
        items = ItemParameters.from_dict(json.loads(bank_path.read_text()))
    else:
        items = ItemParameters.from_irt(
            "2pl", rng.lognormal(0.0, 0.3, n_items), rng.normal(0.0, 1.0, n_items)
        )
    sh = None
    if exposure == "sympson-hetter":
        sh = tuple([1.0] * items.n_items)
    try:
        config = CATConfig(
            selection=selection,
            exposure=exposure,
            randomesque_k=randomesque_k,
            sh_parameters=sh,
            se_target=se_target,
            min_items=min_items,
            max_items=max_items,
            cut_score=cut_score,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    theta = rng.standard_normal(examinees)
    res = run(items, theta, config, seed=seed)
    exp = res.exposure
    out = {
        "examinees": examinees,
        "items": items.n_items,
        "mean_length": res.mean_length,
        "rmse_theta": res.rmse,
        "bias_theta": res.bias,
        "mean_se": float(np.mean(res.se)),
        "exposure": {
            "max": float(exp.max()),
            "mean": float(exp.mean()),
            "unused_items": int((exp == 0).sum()),
            "rates": [float(x) for x in exp],
        },
        "microseconds_per_step": res.microseconds_per_step,
        "seconds": res.seconds,
    }
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"examinees          {examinees}")
    click.echo(f"bank size          {items.n_items}")
    click.echo(f"mean length        {res.mean_length:.2f}")
    click.echo(f"RMSE θ             {res.rmse:.4f}")
    click.echo(f"bias θ             {res.bias:+.4f}")
    click.echo(f"max exposure       {exp.max():.3f}")
    click.echo(f"mean exposure      {exp.mean():.3f}")
    click.echo(f"unused items       {int((exp == 0).sum())}")
    click.echo(f"µs / examinee-step {res.microseconds_per_step:.2f}")


def _register() -> None:
    from cli.irt_assemble import assemble  # click only: --help stays light

    irt.add_command(assemble)


_register()
