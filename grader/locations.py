"""Where the grader keeps files between runs, and how it writes them there."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import platformdirs


def cache_dir() -> Path:
    """The user cache directory: ``$GRADER_CACHE_DIR`` if set, else the platform's user cache for nn-grader.

    It is created on demand, readable by its owner only: it holds other grades' measurements and logs,
    which a worker running as another user must not read. If that fails (read-only home) the path is
    still returned, and whoever writes there meets the error and decides whether it matters.
    """
    override = os.environ.get("GRADER_CACHE_DIR")
    path = Path(override).expanduser() if override else Path(platformdirs.user_cache_dir("nn-grader"))
    with contextlib.suppress(OSError):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.geteuid():
            path.chmod(0o700)
    return path


def write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> bool:
    """Best effort, atomic: ``write`` fills a temporary file beside ``target`` which then replaces it, so
    readers (other graders included) see a whole file or none. False when the folder is not writable: a
    cache that cannot be written only costs speed."""
    part = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with part.open("wb") as out:
            write(out)
        os.replace(part, target)
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
