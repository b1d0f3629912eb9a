"""Verified, atomic downloads: a file appears under its final name only whole and with the right sha256."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from grader.errors import DataError

_CHUNK = 1 << 16


class DownloadError(DataError):
    """Every mirror failed; ``name`` and ``failures`` ((url, reason) pairs) let callers word the error."""

    def __init__(self, name: str, failures: list[tuple[str, str]]) -> None:
        lines = "\n".join(f"  {url}: {reason}" for url, reason in failures) or "  (no mirrors given)"
        super().__init__(
            f"could not download {name}; tried:\n{lines}",
            hint="check the network connection, or set GRADER_MNIST_MIRRORS to a mirror that serves the file",
        )
        self.name = name
        self.failures = failures


class _Rejected(Exception):
    """The transfer completed but its content is not what was asked for."""


def download(
    name: str,
    sha256: str,
    dest_dir: Path,
    mirrors: list[str],
    *,
    progress: bool = False,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``name`` from the first mirror that delivers it intact, into ``dest_dir / name``."""
    dest = dest_dir / name
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create {dest_dir} to download {name} into: {exc.strerror or exc}",
            hint="set GRADER_CACHE_DIR to a writable directory",
        ) from exc
    failures: list[tuple[str, str]] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        try:
            _fetch(url, sha256, dest, progress=progress, timeout=timeout)
        except (_Rejected, OSError, http.client.HTTPException, ValueError) as exc:
            failures.append((url, _reason(exc, timeout)))
        else:
            return dest
    raise DownloadError(name, failures)


def _fetch(url: str, sha256: str, dest: Path, *, progress: bool, timeout: float) -> None:
    """Stream ``url`` into a temporary file next to ``dest`` and move it into place only once verified."""
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, part.open("wb") as out:
            expected_size = _content_length(response.headers)
            digest, size = _stream(response, out, dest.name, expected_size, progress)
            if expected_size is not None and size != expected_size:
                raise _Rejected(f"truncated: got {size} of {expected_size} bytes")
            if digest != sha256:
                raise _Rejected(f"sha256 mismatch: expected {sha256}, got {digest}")
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _content_length(headers: Message) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _stream(response: BinaryIO, out: BinaryIO, label: str, total: int | None, progress: bool) -> tuple[str, int]:
    """Copy the body to ``out`` chunk by chunk; return its sha256 and length."""
    digest = hashlib.sha256()
    size = 0
    with _progress_bar(label, total, progress) as advance:
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            advance(len(chunk))
    return digest.hexdigest(), size


@contextlib.contextmanager
def _progress_bar(label: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield a function that advances a rich progress bar on stderr (or does nothing when disabled)."""
    if not enabled:
        yield lambda _n: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _reason(exc: BaseException, timeout: float) -> str:
    """One short line saying why a mirror failed."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        return _reason(exc.reason, timeout)
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
