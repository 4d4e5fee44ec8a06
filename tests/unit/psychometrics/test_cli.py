from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from click.testing import CliRunner

from cli.irt import irt

PAT = np.array([[int(c) for c in f"{i:05b}"] for i in range(32)])
FREQ = [12, 19, 1, 7, 3, 19, 3, 17, 10, 5, 3, 7, 7, 23, 8, 28,
        7, 39, 11, 34, 14, 51, 15, 90, 6, 25, 7, 35, 18, 136, 32, 308]  # fmt: skip


def lsat_frame() -> pl.DataFrame:
    cols = {f"Item.{j + 1}": PAT[:, j] for j in range(5)}
    cols["freq"] = np.array(FREQ)
    return pl.DataFrame(cols)


def test_calibrate_csv_json(tmp_path: Path) -> None:
    path = tmp_path / "lsat7.csv"
    lsat_frame().write_csv(path)
    res = CliRunner().invoke(
        irt, ["calibrate", "--model", "2pl", "--input", str(path), "--weight-column", "freq"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["model"] == "2pl" and out["converged"]
    assert [r["item"] for r in out["items"]] == [f"Item.{j}" for j in range(1, 6)]
    assert abs(out["items"][0]["a"] - 0.988) < 0.01
    assert abs(out["items"][0]["b"] - (-out["items"][0]["d"] / out["items"][0]["a"])) < 1e-9
    assert out["items"][0]["c"] == 0.0 and "log_likelihood" in out and "iterations" in out


def test_calibrate_parquet_table_se_and_missing(tmp_path: Path) -> None:
    frame = lsat_frame().with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(None).otherwise(pl.col("Item.1")).alias("Item.1")
    )
    path = tmp_path / "lsat7.parquet"
    frame.write_parquet(path)
    res = CliRunner().invoke(
        irt,
        [
            "calibrate",
            "--model",
            "3pl",
            "--input",
            str(path),
            "--weight-column",
            "freq",
            "--format",
            "table",
            "--se",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "Item.3" in res.output and "AIC" in res.output


def test_calibrate_grm_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "grm.csv"
    pl.DataFrame({f"q{j}": rng.integers(0, 3, 300) for j in range(4)}).write_csv(path)
    runner = CliRunner()
    res = runner.invoke(irt, ["calibrate", "--model", "grm", "--input", str(path)])
    assert res.exit_code == 0, res.output
    assert isinstance(json.loads(res.output)["items"][0]["d"], list)
    bad = runner.invoke(irt, ["calibrate", "--model", "2pl", "--input", str(path)])
    assert bad.exit_code != 0 and "grm" in bad.output
    nowt = runner.invoke(irt, ["calibrate", "--input", str(path), "--weight-column", "w"])
    assert nowt.exit_code != 0
    other = tmp_path / "x.json"
    other.write_text("{}")
    assert runner.invoke(irt, ["calibrate", "--input", str(other)]).exit_code != 0
    text = tmp_path / "t.csv"
    text.write_text("a,b\nx,y\n")
    assert runner.invoke(irt, ["calibrate", "--input", str(text)]).exit_code != 0
    only = tmp_path / "w.csv"
    only.write_text("w\n1\n")
    assert runner.invoke(irt, ["calibrate", "--input", str(only), "--weight-column", "w"]).exit_code
    pr = runner.invoke(
        irt, ["calibrate", "--input", str(path), "--model", "grm", "--slope-prior", "1"]
    )
    assert pr.exit_code != 0


def test_simulate_cat(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        irt, ["simulate-cat", "--items", "100", "--examinees", "50", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (
        out["mean_length"] > 0
        and 0 < out["rmse_theta"] < 1
        and len(out["exposure"]["rates"]) == 100
    )
    table = runner.invoke(
        irt,
        [
            "simulate-cat",
            "--items",
            "80",
            "--examinees",
            "20",
            "--exposure",
            "sympson-hetter",
            "--selection",
            "kl",
        ],
    )
    assert table.exit_code == 0 and "RMSE" in table.output
    csv = tmp_path / "lsat7.csv"
    lsat_frame().write_csv(csv)
    cal = runner.invoke(irt, ["calibrate", "--input", str(csv), "--weight-column", "freq"])
    bank = tmp_path / "bank.json"
    bank.write_text(cal.output)
    res2 = runner.invoke(
        irt,
        [
            "simulate-cat",
            "--bank",
            str(bank),
            "--examinees",
            "10",
            "--max-items",
            "5",
            "--min-items",
            "6",
        ],
    )
    assert res2.exit_code != 0
    res3 = runner.invoke(
        irt,
        [
            "simulate-cat",
            "--bank",
            str(bank),
            "--examinees",
            "10",
            "--max-items",
            "5",
            "--cut-score",
            "0",
        ],
    )
    assert res3.exit_code == 0, res3.output
