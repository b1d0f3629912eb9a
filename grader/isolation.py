"""How the worker is walled off from the machine, with the best tool this machine has.

- **bubblewrap** (Linux): a file system holding, read-only, only the system's directories, Python's
  and the grader package, with the worker's own folders writable and a fresh, size-bounded /tmp: no home
  directories, course folder, data sets, test labels, reference solutions or other students'
  submissions; new user, PID, network, IPC and UTS namespaces (no network, no other processes in sight);
  and the sandbox dies with the grader.
- **unshare** (Linux without bubblewrap): new user, network, PID and mount namespaces, with a /proc that
  shows only the sandbox's processes. When the grader runs as root, the worker also runs as a private,
  unprivileged user (below), so what it writes on the host it writes as nobody in particular.
- **user** (Linux, the grader is root but user namespaces are refused, as in Gradescope's Docker and on
  GitHub's ubuntu-24.04 runners): the worker runs as a private user id that no one else has, in folders
  handed over to it. It cannot write the grader's files, the gradebook, the cache or another student's
  folders, it can be given a process limit of its own, and every process it started, detached or not, is
  killed by user id when the run ends.
- **none**: a plain child process; the report says what is not isolated.

``GRADER_ISOLATION=bubblewrap|unshare|user|none`` picks one by hand (for tests and debugging); by default
the first that works here is used.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import site
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

NETWORK, PROCESSES, FILES, GRADER_FILES = "network", "processes", "files", "grader files"
LEVELS = ("bubblewrap", "unshare", "user", "none")
# Credentials a home directory may hold; hidden from the worker where the file system can be.
SECRETS = (
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gh",
    ".config/gcloud",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".pypirc",
)
TMP_BYTES = 1 << 30  # bubblewrap's /tmp and /dev/shm: memory-backed, so bounded
PRIVATE_UID_BASE = 1_900_000_000  # far above any real account and the usual subordinate-id ranges
PRIVATE_UID_SLOTS = 4096  # graders running side by side on one machine


@dataclass(frozen=True)
class Isolation:
    tool: str  # "bubblewrap" | "unshare" | "user" | "none"
    # What is isolated: "network", "processes", "files" (nothing of the machine's files in view) and
    # "grader files" (none of the grader's files writable: its outputs, gradebook, cache).
    features: tuple[str, ...]
    uid: int | None = None  # the private user the worker runs as (the grader is root), else None

    def command(
        self, worker: list[str], *, writable: list[Path], readable: list[Path], hidden: list[Path]
    ) -> list[str]:
        """``worker`` wrapped so that it runs isolated, with only ``writable`` writable and ``hidden`` out of sight."""
        if self.tool == "bubblewrap":
            return [*bubblewrap_prefix(writable, readable, hidden), *worker]
        if self.tool == "unshare":
            return [*UNSHARE, *worker]
        return worker

    def hand_over(self, writable: list[Path], readable: list[Path]) -> None:
        """Give the worker's user its folders: ``writable`` become its own, ``readable`` readable to it.
        Nothing to do when the worker runs as the grader's user."""
        if self.uid is None:
            return
        for folder in writable:
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, self.uid, self.uid, follow_symlinks=False)
            folder.chmod(0o700)  # its own: no other student's worker may look in
        for folder in readable:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(path.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
        for folder in {path.parent for path in [*writable, *readable]}:  # traversable, not listable
            folder.chmod(folder.stat().st_mode | stat.S_IXOTH)

    @property
    def separates_students(self) -> bool:
        """Whether one student's code cannot write the grader's files (another's gradebook row, submission or
        cached measurements): it can when the worker runs as the grader's own user with the file system in
        view."""
        return GRADER_FILES in self.features


UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "--mount-proc"]


def bubblewrap_prefix(writable: list[Path], readable: list[Path], hidden: list[Path]) -> list[str]:
    """An empty root with, read-only, only what running Python and its frameworks takes (the system's
    directories, Python's own, the grader package) and ``readable``, a fresh bounded /tmp, and ``writable``.
    Whatever else the machine holds (home directories, the course folder, other students' submissions,
    data sets) is not there."""
    prefix = ["bwrap", "--dev", "/dev", "--proc", "/proc"]
    prefix += ["--size", str(TMP_BYTES), "--tmpfs", "/tmp", "--size", str(TMP_BYTES), "--tmpfs", "/dev/shm"]
    for path in SYSTEM_PATHS:
        if path.is_symlink():
            prefix += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            prefix += ["--ro-bind", str(path), str(path)]
    for path in python_paths():
        prefix += ["--ro-bind", str(path), str(path)]
    for device in [*sorted(Path("/dev").glob("nvidia*")), Path("/dev/dri")]:  # GPUs, where there are some
        prefix += ["--dev-bind-try", str(device), str(device)]
    for path in readable:
        prefix += ["--ro-bind", str(path), str(path)]
    for path in writable:
        prefix += ["--bind", str(path), str(path)]
    for path in _hideable(hidden, [*writable, *readable, *python_paths()]):
        prefix += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    return [*prefix, "--unshare-all", "--die-with-parent", "--new-session", "--"]


SYSTEM_PATHS = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")]


def python_paths() -> list[Path]:
    """Where the interpreter, its installed libraries and the grader package live: nothing else on
    ``sys.path``. The folder the grader was started from (``python -m grader.cli`` puts it first, and in
    a batch that is the course folder with its roster and gradebook), ``PYTHONPATH`` entries and a source
    checkout (an editable install) are left out; of a checkout, only its ``grader`` package is bound."""
    package = Path(__file__).resolve().parent
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        candidates.append(site.getusersitepackages())
    paths = {package, *(Path(entry).resolve() for entry in candidates if Path(entry).exists())}
    roots: list[Path] = []
    for path in sorted(paths, key=lambda p: len(p.parts)):
        if not any(_within(path, root) for root in roots):
            roots.append(path)
    return roots


def secrets_in_home() -> list[Path]:
    home = Path.home()
    return [home / name for name in SECRETS if (home / name).exists()]


def _hideable(paths: list[Path], needed: list[Path]) -> list[Path]:
    """Existing paths that can be hidden without hiding what the worker needs to run."""
    hideable = []
    for path in paths:
        try:
            path = path.resolve(strict=True)
        except OSError:
            continue
        if not any(_within(need.resolve(), path) for need in needed):
            hideable.append(path)
    return hideable


def _within(path: Path, ancestor: Path) -> bool:
    return path == ancestor or ancestor in path.parents


def isolation() -> Isolation:
    """The isolation to use: $GRADER_ISOLATION if set, else the best that works on this machine."""
    return _isolation(os.environ.get("GRADER_ISOLATION") or None)


@functools.cache
def _isolation(choice: str | None) -> Isolation:
    if choice is not None and choice not in LEVELS:
        raise ValueError(f"GRADER_ISOLATION must be one of {', '.join(LEVELS)}, got {choice!r}")
    candidates = [choice] if choice else list(LEVELS)
    for tool in candidates:
        level = _probe(tool)
        if level is not None:
            return level
    return Isolation("none", ())


def _probe(tool: str) -> Isolation | None:
    """The isolation ``tool`` gives, if it runs here: each is tried once, starting this Python. As root,
    "unshare" and "user" run the worker as a private user, which needs an interpreter other users may run
    (Python under /root is not); where that fails, "unshare" runs as the grader's user."""
    if tool == "none":
        return Isolation("none", ())
    if not sys.platform.startswith("linux"):
        return None
    uid = private_uid() if os.geteuid() == 0 and tool in ("unshare", "user") else None
    if tool == "user":
        return Isolation("user", (GRADER_FILES,), uid) if uid is not None and _runs([], uid) else None
    if shutil.which("unshare" if tool == "unshare" else "bwrap") is None:
        return None
    if tool == "bubblewrap":
        walled = Isolation(tool, (NETWORK, PROCESSES, FILES, GRADER_FILES))
        return walled if _runs(bubblewrap_prefix([], [], []), None) else None
    if uid is not None and _runs(UNSHARE, uid):
        return Isolation(tool, (NETWORK, PROCESSES, GRADER_FILES), uid)
    return Isolation(tool, (NETWORK, PROCESSES)) if _runs(UNSHARE, None) else None


def _runs(prefix: list[str], uid: int | None) -> bool:
    """Whether this Python starts inside ``prefix``, as ``uid`` when one is given."""
    no_groups: list[int] | None = [] if uid is not None else None  # as that user alone, not in this one's groups
    command = [*prefix, sys.executable, "-c", ""]
    try:
        started = subprocess.run(command, capture_output=True, timeout=30, user=uid, group=uid, extra_groups=no_groups)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return started.returncode == 0


@functools.cache
def private_uid() -> int | None:
    """A user id that no other grading process on this machine holds while this one lives: slot N is held
    by an exclusive lock on a file in a root-only folder, released when this process ends, however it ends."""
    folder = Path(os.environ.get("GRADER_UID_LOCKS", Path(tempfile.gettempdir()) / "nn-grader-uids"))
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
        return None  # not a folder only root controls: someone could hold every slot or share ours
    start = os.getpid() % PRIVATE_UID_SLOTS
    for offset in range(PRIVATE_UID_SLOTS):
        slot = (start + offset) % PRIVATE_UID_SLOTS
        fd = os.open(folder / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return PRIVATE_UID_BASE + slot  # the descriptor stays open: the lock lives as long as we do
    return None
