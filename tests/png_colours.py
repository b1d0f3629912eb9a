"""Colours in a PNG, for tests of what a figure shows rather than its exact pixels."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np


def pixels(png: bytes) -> np.ndarray:
    """The image as an RGB array of 0-255 integers."""
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    return np.round(image[..., :3] * 255).astype(int)


def has_colour(png: bytes, hex_colour: str, tolerance: int = 8) -> bool:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(pixels(png) - rgb).max(axis=-1) <= tolerance).any())
