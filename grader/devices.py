"""Which devices this machine offers, found without importing a framework (importing TensorFlow to ask
would cost seconds, and a PyTorch submission must not need it)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs this process may use, by index."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu.strip() for gpu in listed.split(",") if gpu.strip() and gpu.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        found = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    # "GPU 0: NVIDIA H100 (UUID: ...)", each GPU's MIG slices indented under it: a slice is no GPU of its own.
    return [line.split(":", 1)[0].removeprefix("GPU ") for line in found.stdout.splitlines() if line.startswith("GPU ")]


def device_kind(requested: str) -> str:
    """The kind of device ``--device`` will train on: ``auto`` is a CUDA GPU, then Apple's GPU, else the CPU."""
    if requested != "auto":
        return requested
    if visible_gpus():
        return "cuda"
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"
