"""Intervals of a proportion, for counts taken as given (a threshold fixed beforehand)."""
from __future__ import annotations

import math

Z95 = 1.959964  # the standard normal's 97.5% quantile


def wilson(k: float, n: int, z: float = Z95) -> list[float] | None:
    """The 95% Wilson score interval of the proportion k / n (None when n = 0); it always holds
    k / n, also at 0 and n where rounding would otherwise leave it out."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))]
