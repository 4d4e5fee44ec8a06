"""Blocking checks on a calibration: `live_item_parameters` only runs when all pass (and it
evaluates the same predicates again under the item locks before promoting)."""

import dagster as dg

from orchestration.calibration.assets import item_parameters, latest_calibration_id
from orchestration.calibration.predicates import CheckOutcome
from orchestration.calibration.resources import CalibrationResource


def _result(calibration_id: str, outcome: CheckOutcome | None) -> dg.AssetCheckResult:
    if outcome is None:
        return dg.AssetCheckResult(
            passed=True, metadata={"calibration_id": "", "note": "nothing calibrated"}
        )
    failures = dict(list(outcome.failures.items())[:25])
    return dg.AssetCheckResult(
        passed=outcome.passed,
        metadata={
            "calibration_id": calibration_id,
            **outcome.metadata,
            "failures": dg.MetadataValue.json(failures),
        },
    )


def _outcome(
    context: dg.AssetCheckExecutionContext, calibration: CalibrationResource, which: str
) -> tuple[str, CheckOutcome | None]:
    calibration_id = latest_calibration_id(context.instance)
    if not calibration_id:
        return "", None
    evaluation = calibration.evaluate(calibration_id)
    outcome: CheckOutcome = getattr(evaluation, which)
    return calibration_id, outcome


@dg.asset_check(
    asset=item_parameters,
    blocking=True,
    description="Every parameter (a, b, c, d) of the calibration is a finite number.",
)
def item_parameters_are_finite(
    context: dg.AssetCheckExecutionContext, calibration: dg.ResourceParam[CalibrationResource]
) -> dg.AssetCheckResult:
    return _result(*_outcome(context, calibration, "finite"))


@dg.asset_check(
    asset=item_parameters,
    blocking=True,
    description="a, b and c lie within the configured bounds (CalibrationConfig a/b/c limits).",
)
def item_parameters_are_within_bounds(
    context: dg.AssetCheckExecutionContext, calibration: dg.ResourceParam[CalibrationResource]
) -> dg.AssetCheckResult:
    return _result(*_outcome(context, calibration, "bounds"))


@dg.asset_check(
    asset=item_parameters,
    blocking=True,
    description=(
        "No item's curve, linked to the live scale through the anchor items, moved from its "
        "live version by more than max_icc_rmsd (root mean squared difference of the ICCs over "
        "theta ~ N(0, 1)); drifted items block promotion."
    ),
)
def item_parameters_drift_is_small(
    context: dg.AssetCheckExecutionContext, calibration: dg.ResourceParam[CalibrationResource]
) -> dg.AssetCheckResult:
    return _result(*_outcome(context, calibration, "drift"))


calibration_checks = [
    item_parameters_are_finite,
    item_parameters_are_within_bounds,
    item_parameters_drift_is_small,
]
