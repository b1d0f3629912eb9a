"""Where the grader keeps files between runs."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    """The user cache directory: ``$GRADER_CACHE_DIR`` if set, else the platform's user cache for nn-grader.

    It is created on demand; if that fails (read-only home) the path is still returned, and whoever
    writes there meets the error and decides whether it matters.
    """
    override = os.environ.get("GRADER_CACHE_DIR")
    path = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("nn-grader"))
    with contextlib.suppress(OSError):
        path.mkdir(parents=True, exist_ok=True)
    return path
