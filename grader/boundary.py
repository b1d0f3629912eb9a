"""What crosses back from the worker, read as hostile input.

The worker runs in the same process as the student's code, so every byte it leaves in its output folder
may be forged. This module is the only place the grader reads those bytes, and it reads them so that no
file can hurt the grader: never through a link, never from anything but a regular file, never more than
a stated bound (so a FIFO cannot hang it and a huge or self-inflating file cannot exhaust its memory), and
predictions only as integer arrays of exactly the expected length, checked before they are loaded.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from grader.records import Failure, from_dict

T = TypeVar("T")

NPY_HEADER_MAX = 4096  # a .npy header for a 1-D array is well under 256 bytes
ZIP_OVERHEAD_PER_MEMBER = 512  # local and central directory entries for one short member name


class UnsafeResult(Exception):
    """A file in the worker's output that the grader will not use, and why."""


@dataclass(frozen=True)
class OutputFolder:
    """The worker's output folder, opened once, without following a link to it."""

    fd: int
    path: Path

    @classmethod
    def open(cls, path: Path) -> OutputFolder:
        return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC), path)

    def close(self) -> None:
        os.close(self.fd)

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except OSError:
            return False
        return True

    def read_bytes(self, name: str, max_bytes: int) -> bytes:
        """The file's bytes, if it is a regular file of at most ``max_bytes``; else ``UnsafeResult``."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(name, flags, dir_fd=self.fd)
        except OSError as error:
            raise UnsafeResult(f"{name} cannot be opened ({error.strerror}; a link is never followed)") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeResult(f"{name} is not a regular file")
            if info.st_size > max_bytes:
                raise UnsafeResult(f"{name} holds {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
            with os.fdopen(os.dup(fd), "rb") as stream:
                data = stream.read(max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > max_bytes:  # it grew while being read
            raise UnsafeResult(f"{name} holds more than the {max_bytes:,} bytes allowed")
        return data

    def read_record(self, name: str, record: type[T], max_bytes: int) -> T:
        """A record (strict: unknown keys and wrong types refused) from a bounded JSON file."""
        data = self.read_bytes(name, max_bytes)
        try:
            return from_dict(record, json.loads(data))
        except Exception as error:  # anything malformed is the submission's doing
            raise UnsafeResult(f"{name} is not a valid {record.__name__} ({_short(error)})") from None

    def read_predictions(self, name: str, lengths: dict[str, int]) -> dict[str, np.ndarray]:
        """Integer class indices per split, each of exactly ``lengths[split]`` entries.

        The whole file is bounded by what those arrays take, uncompressed; every header is checked before
        its array is read, so no claimed shape can make the grader allocate more than that bound.
        """
        bound = sum(NPY_HEADER_MAX + ZIP_OVERHEAD_PER_MEMBER + 8 * n for n in lengths.values()) + 1024
        data = self.read_bytes(name, bound)
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = {info.filename: info for info in archive.infolist()}
        except (zipfile.BadZipFile, ValueError, OSError) as error:
            raise UnsafeResult(f"{name} is not a NumPy .npz archive ({_short(error)})") from None
        expected = {f"{split}.npy" for split in lengths}
        if set(members) != expected:
            raise UnsafeResult(f"{name} holds {sorted(members)}, expected {sorted(expected)}")
        return {split: _read_member(archive, members[f"{split}.npy"], n) for split, n in lengths.items()}


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, length: int) -> np.ndarray:
    if info.compress_type != zipfile.ZIP_STORED or info.file_size > NPY_HEADER_MAX + 8 * length:
        raise UnsafeResult(f"{info.filename} is compressed or larger than {length} class indices take")
    try:
        member = io.BytesIO(archive.read(info))
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        read_header = readers.get(np.lib.format.read_magic(member))
        if read_header is None:
            raise ValueError("an unknown .npy format version")
        shape, _, dtype = read_header(member)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise UnsafeResult(f"{info.filename} is not a .npy array ({_short(error)})") from None
    if shape != (length,) or dtype.kind not in "iu" or dtype.itemsize > 8:
        raise UnsafeResult(f"{info.filename} holds {dtype} of shape {shape}, expected {length} class indices")
    body = member.read(length * dtype.itemsize)
    if len(body) != length * dtype.itemsize:
        raise UnsafeResult(f"{info.filename} ends before its {length} class indices")
    return np.frombuffer(body, dtype=dtype).astype(np.int64)


def _short(error: BaseException, limit: int = 200) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."


def unusable(what: str, error: UnsafeResult) -> Failure:
    """A result the grader refused, as the failure a report shows."""
    return Failure(
        "malformed_result",
        f"the worker's {what} could not be used: {error}",
        "this happens when the submission's code writes into, or patches, the grader's own files and functions",
    )
