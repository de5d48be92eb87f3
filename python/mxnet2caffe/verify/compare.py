"""Comparing two tensors the way every report and test of ours does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np


@dataclass(frozen=True)
class Comparison:
    name: str
    shape: Tuple[int, ...]
    max_abs_error: float
    relative_error: float  # max |a - b| / max |reference|
    cosine: float

    def within(self, tolerance: float) -> bool:
        return self.relative_error <= tolerance


def compare(name: str, actual: np.ndarray, reference: np.ndarray) -> Comparison:
    """Compares `actual` with `reference`; shapes must agree (a mismatch is infinite error)."""
    actual = np.asarray(actual, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if actual.shape != reference.shape:
        return Comparison(name, tuple(reference.shape), float("inf"), float("inf"), float("nan"))
    if reference.size == 0:
        return Comparison(name, reference.shape, 0.0, 0.0, 1.0)
    difference = float(np.max(np.abs(actual - reference)))
    scale = float(np.max(np.abs(reference)))
    relative = difference / scale if scale > 0 else (0.0 if difference == 0 else float("inf"))
    norms = float(np.linalg.norm(actual) * np.linalg.norm(reference))
    cosine = float(np.dot(actual.ravel(), reference.ravel()) / norms) if norms > 0 else float(difference == 0)
    return Comparison(name, tuple(reference.shape), difference, relative, cosine)
