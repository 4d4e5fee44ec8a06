"""Array type aliases shared by the psychometrics modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
"""A float64 numpy array; shapes are documented where it is used."""

IntArray = npt.NDArray[np.int64]
"""An int64 numpy array."""

BoolArray = npt.NDArray[np.bool_]
"""A boolean numpy array."""

AnyArray = npt.NDArray[Any]
"""A numpy array of any dtype (e.g. float32 work buffers)."""
