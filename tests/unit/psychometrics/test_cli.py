from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
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


def test_wide_files_are_read_into_int8_codes(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cli.irt_input import InputError, read_wide

    table = pa.table(
        {
            "i8": pa.array([1, 0, None, -3], pa.int8()),
            "i64": pa.array([2, None, 0, 1], pa.int64()),
            "f": pa.array([1.0, float("nan"), None, 0.0]),
            "flag": pa.array([True, None, False, True]),
            "w": pa.array([1.0, 2.0, 3.0, 4.0]),
        }
    )
    expect = np.array([[1, 2, 1, 1], [0, -1, -1, -1], [-1, 0, -1, 0], [-1, 1, 0, 1]], np.int8)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=3)  # two row groups
    wide = read_wide(tmp_path / "t.parquet", "w")
    assert wide.items == ["i8", "i64", "f", "flag"] and wide.codes.dtype == np.int8
    np.testing.assert_array_equal(wide.codes, expect)
    np.testing.assert_allclose(wide.weights, [1, 2, 3, 4])
    # CSV: int8 columns directly; a "1.0" spelling falls back to float parsing
    (tmp_path / "t.csv").write_text("a,b\n1,0\n,1\nNA,0\n")
    np.testing.assert_array_equal(
        read_wide(tmp_path / "t.csv").codes, np.array([[1, 0], [-1, 1], [-1, 0]])
    )
    (tmp_path / "f.csv").write_text("a,b\n1.0,0\n0.0,\n")
    np.testing.assert_array_equal(read_wide(tmp_path / "f.csv").codes, [[1, 0], [0, -1]])
    # pandas' stored index is not an item
    pandas_meta = {b"pandas": json.dumps({"index_columns": ["__index_level_0__"]}).encode()}
    indexed = pa.table({"q": [1, 0], "__index_level_0__": [10, 11]}).replace_schema_metadata(
        pandas_meta
    )
    pq.write_table(indexed, tmp_path / "pd.parquet")
    assert read_wide(tmp_path / "pd.parquet").items == ["q"]
    for bad, message in [
        ({"q": pa.array([0.5, 1.0])}, "integer category codes"),
        ({"q": pa.array([300, 1])}, "codes above 127"),
        ({"q": pa.array(["a", "b"])}, "must be numeric"),
    ]:
        pq.write_table(pa.table(bad), tmp_path / "bad.parquet")
        with pytest.raises(InputError, match=message):
            read_wide(tmp_path / "bad.parquet")


def test_compact_codes_calibrate_like_the_float_matrix(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from psychometrics import calibrate

    rng = np.random.default_rng(11)
    a, b = rng.lognormal(0, 0.3, 12), rng.normal(0, 1, 12)
    p = 1 / (1 + np.exp(-a * (rng.standard_normal((2000, 1)) - b)))
    y = (rng.random(p.shape) < p).astype(float)
    y[rng.random(y.shape) < 0.1] = np.nan
    path = tmp_path / "sim.parquet"
    pq.write_table(pa.table({f"q{j}": y[:, j] for j in range(12)}), path)
    res = CliRunner().invoke(irt, ["calibrate", "--input", str(path)])
    assert res.exit_code == 0, res.output
    cli_a = np.array([row["a"] for row in json.loads(res.output)["items"]])
    ref = calibrate(y, "2pl")
    np.testing.assert_allclose(cli_a, ref.items.a, atol=1e-6)


def test_calibrate_long_parquet_streams_and_matches_wide(tmp_path: Path) -> None:
    """A long file (person, item, response; auto-detected) gives the wide file's estimates."""
    rng = np.random.default_rng(4)
    n, j = 3_000, 15
    theta = rng.standard_normal(n)
    a, d = rng.lognormal(0.0, 0.3, j), rng.normal(0.0, 1.0, j)
    y = (rng.random((n, j)) < 1 / (1 + np.exp(-(theta[:, None] * a + d)))).astype(np.int64)
    seen = rng.random((n, j)) < 0.5
    wide = pl.DataFrame(
        {f"q{k:02d}": np.where(seen[:, k], y[:, k], None).tolist() for k in range(j)}
    )
    wide_path = tmp_path / "wide.parquet"
    wide.write_parquet(wide_path)
    person, item = np.nonzero(seen)
    order = rng.permutation(person.size)  # unsorted: the reader sorts a copy
    long_path = tmp_path / "long.parquet"
    pl.DataFrame(
        {
            "person": person[order],
            "item": [f"q{k:02d}" for k in item[order]],
            "response": y[person, item][order],
        }
    ).write_parquet(long_path)
    outs = []
    for path in (wide_path, long_path):
        res = CliRunner().invoke(irt, ["calibrate", "--input", str(path)])
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.output))
    assert [r["item"] for r in outs[1]["items"]] == [r["item"] for r in outs[0]["items"]]
    for w, s in zip(outs[0]["items"], outs[1]["items"], strict=True):
        assert abs(w["a"] - s["a"]) < 2e-3 and abs(w["d"] - s["d"]) < 2e-3
    bad = CliRunner().invoke(
        irt, ["calibrate", "--input", str(long_path), "--long", "--weight-column", "w"]
    )
    assert bad.exit_code == 2 and "wide files only" in bad.output


def test_assemble_meets_the_spec_file_and_names_an_infeasible_skill(tmp_path: Path) -> None:
    bank = {
        "model": "2pl",
        "items": [{"item": f"q{j}", "a": 1.0 + 0.05 * j, "d": 0.3 * (j - 10), "c": 0.0}
                  for j in range(20)],
    }  # fmt: skip
    (tmp_path / "bank.json").write_text(json.dumps(bank))
    spec = {
        "length": 6,
        "theta": [-1.0, 1.0],
        "blueprint": {"a": 3, "b": [2, 3]},
        "skills": {f"q{j}": ["a" if j % 2 else "b"] for j in range(20)},
        "enemies": [["q1", "q3", "q5"]],
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    args = [
        "assemble",
        "--bank",
        str(tmp_path / "bank.json"),
        "--spec",
        str(tmp_path / "spec.json"),
    ]
    res = CliRunner().invoke(irt, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert len(out["items"]) == 6 and out["skill_counts"]["a"] == 3
    assert len({"q1", "q3", "q5"} & set(out["items"])) <= 1
    spec["blueprint"] = {"a": 7}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    res = CliRunner().invoke(irt, args)
    assert res.exit_code == 1 and "skill 'a' needs 7 items" in res.output
