"""A recalibration on a shifted population is linked to the live scale and promoted.

Through the real path (outbox -> Iceberg -> calibration asset -> blocking checks -> promotion):

1. 1,500 students from N(0, 1) answer 25 unchanged 2PL items: the first calibration has no
   live anchors, is recorded as unlinked and promoted;
2. 2,500 stronger, more spread students, N(1.0, 1.4^2), answer the same items. The free
   calibration standardises the pooled history, so every item moves on its own scale; linked
   through the 25 live items (Stocking-Lord) the version lands back on the live scale, the
   drift check passes and it is promoted, with the constants and their provenance recorded
   in PostgreSQL, in the Iceberg history and in the asset's metadata;
3. the same snapshot calibrated with linking switched off is refused by the drift check --
   the promotion in step 2 is owed to the linking;
4. the θ of the same response patterns, scored by EAP against version 1 and against the
   linked version 2, agree; against the unlinked version 3 they do not.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import dagster as dg
import numpy as np
import psycopg
import pytest

from core.ids import new_id
from core.settings import Settings
from lake.calibration_io import ITEM_PARAMETERS
from lake.duck import connect
from orchestration.calibration.engine import CalibrationConfig
from orchestration.calibration.resources import CalibrationResource
from psychometrics import ItemParameters, eap_scores
from tests.integration.calibration.test_calibration_loop import (
    T0,
    _checks,
    _ingest,
    _materialize,
    _materialized,
    _seed_bank,
    _write_responses,
)

pytestmark = pytest.mark.integration

N_ITEMS = 25
CONFIG = CalibrationConfig(min_item_responses=200, max_icc_rmsd=0.05)


def _simulate(
    rng: np.random.Generator, a: np.ndarray, b: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-a[None, :] * (theta[:, None] - b[None, :])))
    return np.asarray(rng.random(p.shape) < p)


def _version(settings: Settings, calibration_id: str, item_ids: list[str]) -> ItemParameters:
    """The parameters a calibration wrote for the items, in item order."""
    with psycopg.connect(settings.database_url) as conn:
        rows = dict(
            (r[0], (float(r[1]), float(r[2])))
            for r in conn.execute(
                "select item_id::text, a, d[1] from content.item_parameters"
                " where calibration_id = %s",
                (calibration_id,),
            ).fetchall()
        )
    a = np.array([rows[i][0] for i in item_ids])
    d = np.array([rows[i][1] for i in item_ids])
    return ItemParameters("2pl", a, d, np.zeros(len(item_ids)))


def _provenance(settings: Settings, calibration_id: str) -> dict[str, object]:
    with psycopg.connect(settings.database_url) as conn:
        row = conn.execute(
            "select provenance from content.item_parameters where calibration_id = %s limit 1",
            (calibration_id,),
        ).fetchone()
    assert row is not None
    return dict(row[0])


def test_shifted_population_is_linked_promoted_and_theta_is_stable(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(20261201)
    a = rng.uniform(0.7, 2.0, N_ITEMS)
    b = np.clip(rng.normal(0.0, 1.0, N_ITEMS), -2.5, 2.5)
    _, item_ids = _seed_bank(settings, N_ITEMS)
    exam_id = str(new_id())
    instance = dg.DagsterInstance.ephemeral()
    linked = CalibrationResource(settings, CONFIG)

    # ---- 1. the first population: unlinked (nothing live yet), promoted
    first = _simulate(rng, a, b, rng.normal(0.0, 1.0, 1500))
    n1 = _write_responses(settings, exam_id, item_ids, np.ones_like(first), first, T0)
    _ingest(settings, n1)
    run1 = _materialize(linked, instance)
    assert run1.success and all(_checks(run1).values())
    meta1 = _materialized(run1)
    cal1 = str(meta1[ITEM_PARAMETERS]["calibration_id"])
    assert meta1["live_item_parameters"]["promoted"] == N_ITEMS
    link1 = _provenance(settings, cal1)["linking"]
    assert isinstance(link1, dict)
    assert link1["method"] == "none" and link1["anchors_available"] == 0

    # ---- 2. a shifted population on the same, unchanged items: linked and promoted
    second = _simulate(rng, a, b, rng.normal(1.0, 1.4, 2500))
    n2 = _write_responses(
        settings, exam_id, item_ids, np.ones_like(second), second, T0 + timedelta(days=30)
    )
    _ingest(settings, n2)
    run2 = _materialize(linked, instance)
    checks2 = _checks(run2)
    assert run2.success and all(checks2.values()), checks2
    meta2 = _materialized(run2)
    cal2 = str(meta2[ITEM_PARAMETERS]["calibration_id"])
    assert meta2["live_item_parameters"]["promoted"] == N_ITEMS
    groups = meta2[ITEM_PARAMETERS]["groups"]
    assert isinstance(groups, list) and len(groups) == 1
    link2 = _provenance(settings, cal2)["linking"]
    assert link2 == groups[0]["linking"]
    assert isinstance(link2, dict)
    assert link2["method"] == "stocking-lord" and link2["anchors"] == N_ITEMS
    assert link2["dropped_as_drifted"] == [] and link2["target_calibrations"] == [cal1]
    # the pooled history (1,500 from N(0,1), 2,500 from N(1,1.4^2)) has mean 0.625 and SD
    # ~1.37 on the first scale, which version 1 fixed at its own sample's N(0, 1)
    assert 0.5 < float(link2["B"]) < 0.75, link2
    assert 1.2 < float(link2["A"]) < 1.55, link2
    assert float(link2["se_A"]) > 0 and float(link2["se_B"]) > 0
    assert groups[0]["latent_mean"] == pytest.approx(link2["B"], abs=1e-3)
    v1 = _version(settings, cal1, item_ids)
    v2 = _version(settings, cal2, item_ids)
    assert float(np.sqrt(np.mean((v2.b - v1.b) ** 2))) < 0.15

    # ---- 3. the same snapshot without linking: the drift check refuses it
    unlinked = CalibrationResource(settings, replace(CONFIG, linking="none"))
    run3 = _materialize(unlinked, instance)
    assert _checks(run3)["item_parameters_drift_is_small"] is False
    meta3 = _materialized(run3)
    assert "live_item_parameters" not in meta3
    cal3 = str(meta3[ITEM_PARAMETERS]["calibration_id"])
    assert _provenance(settings, cal3)["linking"] == {
        "method": "none",
        "A": 1.0,
        "B": 0.0,
        "se_A": None,
        "se_B": None,
        "anchors": 0,
        "anchors_available": 0,
        "dropped_as_drifted": [],
        "target_calibrations": [],
        "reason": "linking disabled (config)",
    }
    v3 = _version(settings, cal3, item_ids)

    # ---- 4. θ of the same response patterns: stable across the two linked versions
    patterns = _simulate(rng, a, b, np.linspace(-2.0, 2.0, 9)).astype(float)
    theta1 = eap_scores(patterns, v1).theta
    theta2 = eap_scores(patterns, v2).theta
    theta3 = eap_scores(patterns, v3).theta
    assert np.max(np.abs(theta2 - theta1)) < 0.15, (theta1, theta2)
    assert np.mean(np.abs(theta3 - theta1)) > 0.3, (theta1, theta3)

    # ---- the Iceberg history carries the constants of every version
    con = connect(settings)
    try:
        lake = con.execute(
            f"select calibration_id, any_value(link_method), any_value(link_a),"
            f" any_value(link_b), any_value(link_anchors) from {ITEM_PARAMETERS}"
            f" group by calibration_id"
        ).fetchall()
    finally:
        con.close()
    by_cal = {r[0]: r[1:] for r in lake}
    assert by_cal[cal1][0] == "none"
    assert by_cal[cal2][0] == "stocking-lord" and by_cal[cal2][3] == N_ITEMS
    assert by_cal[cal2][1] == pytest.approx(link2["A"]) and by_cal[cal2][2] == pytest.approx(
        link2["B"]
    )
    with capsys.disabled():
        print(
            f"\nlinking (Stocking-Lord, {N_ITEMS} anchors): A = {link2['A']:.4f} "
            f"(SE {link2['se_A']:.4f}), B = {link2['B']:.4f} (SE {link2['se_B']:.4f}); "
            f"max |dtheta| v1 vs linked v2 {np.max(np.abs(theta2 - theta1)):.3f}, "
            f"mean |dtheta| v1 vs unlinked v3 {np.mean(np.abs(theta3 - theta1)):.3f}"
        )
