"""The device ``--device auto`` trains on, found from what the machine shows (``CUDA_VISIBLE_DEVICES``,
``nvidia-smi``, the platform) without importing a framework."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from grader import devices


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A machine described by hand: no ``CUDA_VISIBLE_DEVICES``, no ``nvidia-smi`` and Linux on x86 unless
    the test says otherwise. ``gpus(text)`` installs an ``nvidia-smi`` that prints ``text``."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(devices.platform, "system", lambda: "Linux")
    monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")

    def gpus(listing: str, status: int = 0) -> None:
        tool = tmp_path / "nvidia-smi"
        lines = " ".join(shlex.quote(line) for line in listing.splitlines())
        tool.write_text(f"#!/bin/sh\nprintf '%s\\n' {lines}\nexit {status}\n")  # builtins only: PATH is bare
        tool.chmod(0o755)

    return gpus


def test_explicit_device_is_taken_as_given(machine):
    machine("GPU 0: NVIDIA H100 (UUID: GPU-1)")
    assert devices.device_kind("cpu") == "cpu"
    assert devices.device_kind("cuda") == "cuda"


def test_auto_picks_cuda_when_nvidia_smi_lists_a_gpu(machine):
    machine("GPU 0: NVIDIA H100 (UUID: GPU-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)")
    assert devices.visible_gpus() == ["0", "1"]
    assert devices.device_kind("auto") == "cuda"


def test_gpus_are_numbered_as_nvidia_smi_numbers_them_when_mig_slices_are_listed(machine):
    """A batch hands each worker one GPU by this number (CUDA_VISIBLE_DEVICES): a MIG slice, listed under its
    GPU, is not one more GPU."""
    machine("GPU 0: NVIDIA H100 (UUID: GPU-1)\n  MIG 3g.40gb Device 0: (UUID: MIG-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)")
    assert devices.visible_gpus() == ["0", "1"]


def test_auto_picks_the_cpu_without_nvidia_smi(machine):
    assert devices.visible_gpus() == []
    assert devices.device_kind("auto") == "cpu"


def test_a_failing_nvidia_smi_means_no_gpu_whatever_it_printed(machine):
    machine("GPU 0: NVIDIA H100 (UUID: GPU-1)\nUnable to determine the device handle for GPU 0", status=9)
    assert devices.visible_gpus() == []
    assert devices.device_kind("auto") == "cpu"


@pytest.mark.parametrize(
    ("listed", "gpus"),
    [("0,2", ["0", "2"]), (" 1 , ", ["1"]), ("", []), ("-1", [])],
)
def test_cuda_visible_devices_overrides_what_nvidia_smi_lists(machine, monkeypatch, listed, gpus):
    machine("GPU 0: NVIDIA H100 (UUID: GPU-1)")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", listed)
    assert devices.visible_gpus() == gpus
    assert devices.device_kind("auto") == ("cuda" if gpus else "cpu")


def test_auto_picks_apples_gpu_on_apple_silicon_only(machine, monkeypatch):
    monkeypatch.setattr(devices.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(devices.platform, "machine", lambda: "arm64")
    assert devices.device_kind("auto") == "mps"
    monkeypatch.setattr(devices.platform, "machine", lambda: "x86_64")  # an Intel Mac has no MPS to train on
    assert devices.device_kind("auto") == "cpu"


def test_finding_devices_imports_no_framework():
    """Asking costs no framework import: TensorFlow takes seconds, and a PyTorch submission need not have it."""
    probe = (
        "import sys; from grader.devices import device_kind; device_kind('auto'); "
        "print(sorted({'torch', 'tensorflow', 'keras', 'jax', 'numpy'} & set(sys.modules)))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    assert found.stdout.strip() == "[]"
