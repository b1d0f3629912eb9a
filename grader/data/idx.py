"""Reader for the IDX format MNIST ships in, strict enough to catch truncated or corrupt copies."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import NoReturn

import numpy as np

from grader.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_UNSIGNED_BYTE = 0x08
_MAX_DIMS = 4
REPAIR_HINT = "delete it so it is downloaded again, or replace it with a good copy"


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped or raw IDX file into a uint8 array shaped as its header says."""
    return decode_idx(read_file(path), path)


def read_file(path: Path) -> bytes:
    """The file's bytes, with an unreadable file reported as a DataError rather than a bare OSError."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}", hint=REPAIR_HINT) from exc


def decode_idx(raw: bytes, path: Path) -> np.ndarray:
    """Decode an IDX file's bytes, gzipped or not (told by the magic bytes); ``path`` names it in errors."""
    data = _gunzip(raw, path) if raw.startswith(_GZIP_MAGIC) else raw
    dims = _header_dims(data, path)
    offset = 4 + 4 * len(dims)
    expected = int(np.prod(dims))
    actual = len(data) - offset
    if actual < expected:
        _fail(path, f"is truncated: its header promises {expected} data bytes but only {actual} follow")
    if actual > expected:
        _fail(path, f"has {actual - expected} trailing bytes after the {expected} its header promises")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _gunzip(raw: bytes, path: Path) -> bytes:
    try:
        return gzip.decompress(raw)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        _fail(path, f"is a truncated or corrupt gzip file ({exc})")


def _header_dims(data: bytes, path: Path) -> tuple[int, ...]:
    """Check the magic number (two zero bytes, a dtype code, a dimension count) and return the dims."""
    if len(data) < 4:
        _fail(path, f"is too short to be an IDX file ({len(data)} bytes)")
    if data[:2] != b"\x00\x00":
        _fail(path, f"is not an IDX file (magic number starts {data[:2].hex()}, expected 0000)")
    if data[2] != _UNSIGNED_BYTE:
        _fail(path, f"has IDX data type code 0x{data[2]:02x}; only 0x08 (unsigned byte) is valid for MNIST")
    ndim = data[3]
    if not 1 <= ndim <= _MAX_DIMS:
        _fail(path, f"declares {ndim} dimensions; an IDX file for MNIST has 1 to {_MAX_DIMS}")
    if len(data) < 4 + 4 * ndim:
        _fail(path, "is truncated inside its IDX header")
    return tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))


def _fail(path: Path, problem: str) -> NoReturn:
    raise DataError(f"{path} {problem}", hint=REPAIR_HINT)
