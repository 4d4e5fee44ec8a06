"""`dreamseed irt assemble`: build a fixed form from an item bank with the MILP assembler."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

SIMULATED_SKILLS = ("algebra", "geometry", "numbers", "data")


def _simulated(n_items: int, seed: int) -> tuple[Any, dict[str, list[str]]]:
    """A 2PL bank with four skills in turn (for trying the assembler without data)."""
    import numpy as np

    from psychometrics import ItemParameters

    rng = np.random.default_rng(seed)
    items = ItemParameters.from_irt(
        "2pl", rng.lognormal(0.0, 0.3, n_items), rng.normal(0.0, 1.0, n_items)
    )
    skills = {name: [SIMULATED_SKILLS[j % 4]] for j, name in enumerate(items.names)}
    return items, skills


def _spec(data: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, list[float] | None]:
    """The AssemblySpec of a spec file (items named as in the bank) and the exposure rates."""
    from psychometrics.assembly import AssemblySpec

    where = {name: j for j, name in enumerate(names)}

    def index(name: str, field: str) -> int:
        if name not in where:
            raise click.BadParameter(f"{field}: unknown item {name!r}", param_hint="--spec")
        return where[name]

    blueprint = {
        skill: want if isinstance(want, int) else (int(want[0]), int(want[1]))
        for skill, want in data.get("blueprint", {}).items()
    }
    rates = data.get("exposure")
    exposure = None if rates is None else [float(rates.get(n, 0.0)) for n in names]
    spec = AssemblySpec(
        length=int(data["length"]),
        theta=[float(t) for t in data["theta"]],
        target=data.get("target"),
        relative=data.get("relative"),
        blueprint=blueprint,
        enemies=[[index(n, "enemies") for n in group] for group in data.get("enemies", [])],
        max_exposure=data.get("max_exposure"),
        time_limit=float(data.get("time_limit", 30.0)),
    )
    return spec, exposure


@click.command("assemble")
@click.option(
    "--bank",
    "bank_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="JSON item bank (output of `irt calibrate`); default: a simulated 4-skill 2PL bank.",
)
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSON: length, theta, target (or relative), blueprint {skill: n | [min, max]}, "
    "skills {item: [skill, ...]}, enemies [[item, ...]], max_exposure, exposure {item: rate}.",
)
@click.option("--items", "n_items", type=int, default=1000, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True
)
def assemble(bank_path: Path | None, spec_path: Path, n_items: int, seed: int, fmt: str) -> None:
    """Assemble one fixed form: blueprint, enemies, exposure caps and a target information
    at chosen θ points (HiGHS MILP; van der Linden 2005)."""
    from psychometrics import ItemParameters
    from psychometrics.assembly import InfeasibleAssembly
    from psychometrics.assembly import assemble as run

    data = json.loads(spec_path.read_text())
    if bank_path is not None:
        items = ItemParameters.from_dict(json.loads(bank_path.read_text()))
        skills = data.get("skills", {})
    else:
        items, skills = _simulated(n_items, seed)
    try:
        spec, exposure = _spec(data, items.names)
        item_skills = [tuple(skills.get(name, ())) for name in items.names]
        form = run(items, item_skills, spec, exposure)
    except (KeyError, TypeError) as exc:
        raise click.BadParameter(f"missing or malformed field {exc}", param_hint="--spec") from exc
    except InfeasibleAssembly as exc:
        raise click.ClickException(f"infeasible: {exc}") from exc
    except (ValueError, TimeoutError) as exc:
        raise click.ClickException(str(exc)) from exc
    out = {"items": [items.names[int(j)] for j in form.selected], **form.to_dict()}
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"form               {len(out['items'])} items ({form.status}, {form.seconds:.2f} s)"
    )
    click.echo(f"objective          {form.objective} = {form.value:.4f}")
    for k, t in enumerate(form.theta):
        goal = "" if form.target is None else f"  target {form.target[k]:.3f}"
        click.echo(f"information θ={t:+.2f} {form.information[k]:.3f}{goal}")
    for skill, count in form.skill_counts.items():
        click.echo(f"skill {skill:<12} {count}")
    click.echo("items              " + " ".join(out["items"]))
