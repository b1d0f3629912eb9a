"""``python -m grader.reaper UID``: kills every process of a private user once the grader lets go.

Started by the grader (as root, running none of the student's code) beside a worker that runs as the
private user ``UID``. It waits for its standard input to close, which happens when the grader closes the
pipe after the run or dies, however it dies (``kill -9`` included), and then kills everything that user
runs, so a detached child of the student's code never outlives the grade.
"""

from __future__ import annotations

import signal
import sys

from grader.processes import kill_user


def main(argv: list[str]) -> int:
    uid = int(argv[0])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the grader's terminal must not stop the sweep
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.stdin.buffer.read()
    return 0 if kill_user(uid) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
