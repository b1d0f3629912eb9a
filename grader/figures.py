"""How a figure is written, the same in the scorer's messages and on every page: an accuracy as "97.3%", a
difference between two accuracies in percentage points ("2.9 pp", never "points", which are the rubric's)."""

from __future__ import annotations


def percent(fraction: float) -> str:
    """An accuracy: 0.9731 -> "97.3%"."""
    return f"{100 * fraction:.1f}%"


def pp(fraction: float, *, unit: bool = True) -> str:
    """An accuracy difference: 0.029 -> "2.9 pp" (or "2.9" without the unit, in a column whose header says it)."""
    return f"{100 * fraction:.1f}" + (" pp" if unit else "")
