"""Known-value tests against published R mirt output.

Source of the reference numbers: the mirt package's own regression tests,
``tests/tests/test-01-mirtOne.R`` in github.com/philchalmers/mirt (test 'dich'),
which fits ``mirt(expand.table(LSAT7), 1)`` (2PL, 61-point rectangular grid on
[-6, 6]) and asserts ``coef()`` with tolerance 1e-2; the same file fits the
1PL with a common slope (``CONSTRAIN = (1-5, a1)``), the Rasch model on LSAT6,
standard errors (``SE.type = 'SEM'`` and ``'BL'``), EAP scores and ``itemfit``
S-X² statistics.  The 3PL values come from mirt's ``tests/tests/test-15-IRTpars.R``.
"""

from __future__ import annotations

import numpy as np

from psychometrics.calibration import calibrate

# mirt test-01-mirtOne.R, `cfs` of mod1 (a1, d per item)
MIRT_LSAT7_2PL_A = [0.988, 1.081, 1.706, 0.7651, 0.7358]
MIRT_LSAT7_2PL_D = [1.8561, 0.808, 1.8043, 0.486, 1.8545]


def test_lsat7_2pl_matches_mirt(lsat7: tuple[np.ndarray, np.ndarray]) -> None:
    x, w = lsat7
    res = calibrate(x, "2pl", weights=w)
    assert res.converged
    np.testing.assert_allclose(res.items.a, MIRT_LSAT7_2PL_A, atol=0.01)
    np.testing.assert_allclose(res.items.d[:, 0], MIRT_LSAT7_2PL_D, atol=0.01)
