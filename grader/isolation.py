"""How the worker is walled off from the machine, with the best tool this machine has.

- **bubblewrap** (Linux): a file system holding, read-only, only the system's directories, Python's
  and the grader package, with the worker's own work directory writable and a fresh /tmp: no home
  directories, data sets, test labels, reference solutions or other students' submissions; new user,
  PID, network, IPC and UTS namespaces (no network, no other processes in sight); and the sandbox
  dies with the grader.
- **unshare** (Linux without bubblewrap): new user, network and PID namespaces only.
- **none**: a plain child process; the report says what is not isolated.

``GRADER_ISOLATION=bubblewrap|unshare|none`` picks one by hand (for tests and debugging); by default
the first that works here is used.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NETWORK, PROCESSES, FILES = "network", "processes", "files"
LEVELS = ("bubblewrap", "unshare", "none")
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


@dataclass(frozen=True)
class Isolation:
    tool: str  # "bubblewrap" | "unshare" | "none"
    features: tuple[str, ...]  # what is isolated: "network", "processes", "files"

    def command(self, worker: list[str], *, workdir: Path, hidden: list[Path]) -> list[str]:
        """``worker`` wrapped so that it runs isolated, with only ``workdir`` writable and ``hidden`` out of sight."""
        if self.tool == "bubblewrap":
            return [*bubblewrap_prefix(workdir, hidden), *worker]
        if self.tool == "unshare":
            return [*UNSHARE, *worker]
        return worker

    def missing(self) -> list[str]:
        return [feature for feature in (NETWORK, PROCESSES, FILES) if feature not in self.features]


UNSHARE = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child"]


def bubblewrap_prefix(workdir: Path, hidden: list[Path]) -> list[str]:
    """An empty root with, read-only, only what running Python and its frameworks takes (the system's
    directories, Python's own, the grader package), a fresh /tmp, and ``workdir`` writable. Whatever
    else the machine holds (home directories, other students' submissions, data sets) is not there."""
    prefix = ["bwrap", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    for path in SYSTEM_PATHS:
        if path.is_symlink():
            prefix += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            prefix += ["--ro-bind", str(path), str(path)]
    for path in python_paths():
        prefix += ["--ro-bind", str(path), str(path)]
    for device in [*sorted(Path("/dev").glob("nvidia*")), Path("/dev/dri")]:  # GPUs, where there are some
        prefix += ["--dev-bind-try", str(device), str(device)]
    prefix += ["--bind", str(workdir), str(workdir)]
    for path in _hideable(hidden, [workdir, *python_paths()]):
        prefix += ["--tmpfs", str(path)] if path.is_dir() else ["--ro-bind", "/dev/null", str(path)]
    return [*prefix, "--unshare-all", "--die-with-parent", "--new-session", "--"]


SYSTEM_PATHS = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")]


def python_paths() -> list[Path]:
    """Where the interpreter, its libraries and the grader package live. A source checkout on ``sys.path``
    (an editable install) contributes its ``grader`` package only, not its tests or reference solutions."""
    package = Path(__file__).resolve().parent
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), package}
    for entry in sys.path:
        path = Path(entry).resolve() if entry else None
        if path is not None and path.exists() and path != package.parent:
            paths.add(path)
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
    """The isolation ``tool`` gives, if it runs here: each is tried once, on ``true``."""
    if tool == "none":
        return Isolation("none", ())
    if not sys.platform.startswith("linux") or shutil.which(tool if tool == "unshare" else "bwrap") is None:
        return None
    probe = bubblewrap_prefix(Path("/tmp"), []) if tool == "bubblewrap" else UNSHARE
    try:
        works = subprocess.run([*probe, "true"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        works = False
    if not works:
        return None
    return Isolation(tool, (NETWORK, PROCESSES, FILES) if tool == "bubblewrap" else (NETWORK, PROCESSES))
