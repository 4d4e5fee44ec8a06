"""Shared fixtures: the LSAT6/LSAT7 pattern tables and small simulated data sets."""

from __future__ import annotations

import numpy as np
import pytest

# Bock & Lieberman (1970) LSAT sections 6 and 7: 32 response patterns of 5 items,
# 1000 examinees each.  Frequencies as distributed in R psych's `bock.table`
# (columns Ob6, Ob7; also mirt's LSAT6 / LSAT7 data sets).  Pattern order: item 1
# is the most significant bit, i.e. 00000, 00001, 00010, ...
PATTERNS = np.array([[int(c) for c in f"{i:05b}"] for i in range(32)], dtype=np.int64)
LSAT6_FREQ = np.array(
    [3, 6, 2, 11, 1, 1, 3, 4, 1, 8, 0, 16, 0, 3, 2, 15,
     10, 29, 14, 81, 3, 28, 15, 80, 16, 56, 21, 173, 11, 61, 28, 298]
)  # fmt: skip
LSAT7_FREQ = np.array(
    [12, 19, 1, 7, 3, 19, 3, 17, 10, 5, 3, 7, 7, 23, 8, 28,
     7, 39, 11, 34, 14, 51, 15, 90, 6, 25, 7, 35, 18, 136, 32, 308]
)  # fmt: skip


@pytest.fixture
def lsat7() -> tuple[np.ndarray, np.ndarray]:
    return PATTERNS.copy(), LSAT7_FREQ.astype(float)


@pytest.fixture
def lsat6() -> tuple[np.ndarray, np.ndarray]:
    return PATTERNS.copy(), LSAT6_FREQ.astype(float)
