"""Lifelines: a child process holds the read end of a pipe whose write end only its parent holds, and
exits as soon as the pipe closes. The kernel closes it when the parent dies, however it dies (Ctrl-C,
SIGKILL, a crash, a lost Dask worker), so no child is left working for nobody.

The sandboxed worker holds one to the grading process; a grading process started by a batch holds one to
the batch (``GRADER_LIFELINE_FD``).
"""

from __future__ import annotations

import os
import threading

LIFELINE_EXIT = 75  # the parent went away
LIFELINE_ENV = "GRADER_LIFELINE_FD"


def hold_lifeline(fd: int) -> None:
    """Exit the whole process once ``fd`` reads end-of-file; a negative ``fd`` means no lifeline."""
    if fd < 0:
        return

    def wait() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        os._exit(LIFELINE_EXIT)

    threading.Thread(target=wait, name="lifeline", daemon=True).start()


def hold_inherited_lifeline() -> None:
    """Hold the lifeline a parent passed down in ``GRADER_LIFELINE_FD``, if any, and keep it from our own
    children (who hold lifelines of their own to us)."""
    value = os.environ.pop(LIFELINE_ENV, "")
    if value.isdigit():
        hold_lifeline(int(value))
