"""What every benchmark table states first: the machine and the library versions it was measured with."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from grader.devices import visible_gpus

LIBRARIES = ("torch", "tensorflow-cpu", "tensorflow", "keras", "numpy")


def describe_machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
        cpu = names[0] if names else cpu
    gpus = visible_gpus()
    gpu = f"{len(gpus)} NVIDIA GPU(s)" if gpus else "no GPU"
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, {', '.join(found)}"
