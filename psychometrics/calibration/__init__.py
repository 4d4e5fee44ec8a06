"""Item calibration: marginal maximum likelihood by EM with SQUAREM acceleration."""

from psychometrics.calibration.em import calibrate
from psychometrics.calibration.mstep import Priors
from psychometrics.calibration.result import CalibrationResult, ConvergenceReport, StandardErrors

__all__ = ["CalibrationResult", "ConvergenceReport", "Priors", "StandardErrors", "calibrate"]
