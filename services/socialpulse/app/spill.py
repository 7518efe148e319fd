"""spill: the dedup's cold store as unlinked temporary files on local disk, one per segment.

Kafka Streams keeps state too large for memory in a local RocksDB and rebuilds it from its
changelog; socialpulse does the same for the ids of quiet dedup minutes, with less machinery:
their bytes are only appended and read back by range, and a segment goes whole once its minutes
have expired. Each segment is a file unlinked as soon as it is made (``tempfile.TemporaryFile``),
so its space returns to the disk when it is released, when the process exits and when it is
killed: nothing is left to clean up, and nothing is read back by a later process (a restore
writes the ids again from the state topic).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO

_MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})


def filesystem_type(directory: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The type of the filesystem ``directory`` is on (Linux; None where that cannot be read)."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    target = os.path.realpath(directory)
    best, kind = "", None
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, line.split(" - ", 1)[1].split()[0]
    return kind


class SpillDirError(RuntimeError):
    """The spill directory takes no file: start-up stops with this message."""


class SpillFiles:
    """A ``ColdStore`` (``core.dedup``) of one temporary file per segment in ``directory``."""

    def __init__(self, directory: Path | None = None) -> None:
        """``directory``: where the files go; None: the system's temporary directory.

        One file is made and closed at once, so a directory that takes none stops start-up
        (``SpillDirError``) rather than the first move, minutes later.
        """
        self._directory = directory
        self._files: dict[int, BinaryIO] = {}
        self._sizes: dict[int, int] = {}
        try:
            tempfile.TemporaryFile(dir=directory, prefix="socialpulse-dedup-").close()
        except OSError as e:
            where = directory or tempfile.gettempdir()
            raise SpillDirError(
                f"dedup_spill_dir: cannot make a file in {where} ({e.strerror or e}); "
                "set dedup_spill_dir to a writable directory, or dedup_spill: false"
            ) from e

    def put(self, segment: int, data: bytes) -> int:
        """Append ``data`` to ``segment``'s file: where it starts. ``OSError`` when refused."""
        f = self._files.get(segment)
        if f is None:
            f = tempfile.TemporaryFile(dir=self._directory, prefix="socialpulse-dedup-")  # noqa: SIM115 - held until released
            self._files[segment] = f
            self._sizes[segment] = 0
        position = self._sizes[segment]
        view = memoryview(data)
        written = 0
        try:
            while written < len(view):
                written += os.pwrite(f.fileno(), view[written:], position + written)
        except OSError:
            if position == 0:
                self.release(segment)
            raise  # the size is not advanced: what was written in part is overwritten next time
        self._sizes[segment] = position + written
        return position

    def get(self, segment: int, position: int, size: int) -> bytes:
        """``size`` bytes of ``segment`` from ``position``."""
        data = os.pread(self._files[segment].fileno(), size, position)
        if len(data) != size:
            raise OSError(f"dedup spill file {segment}: {len(data)} of {size} bytes at {position}")
        return data

    def release(self, segment: int) -> None:
        """Close ``segment``'s file, which frees its space."""
        f = self._files.pop(segment, None)
        self._sizes.pop(segment, None)
        if f is not None:
            f.close()

    def warning(self) -> str | None:
        """What to tell the operator when the files would sit in memory after all."""
        where = self._directory or Path(tempfile.gettempdir())
        kind = filesystem_type(where)
        if kind not in _MEMORY_FILESYSTEMS:
            return None
        return (
            f"dedup_spill_dir: {where} is on {kind}, which keeps files in memory: the dedup ids "
            "moved there still use RAM; set dedup_spill_dir to a directory on disk"
        )

    @property
    def nbytes(self) -> int:
        """Bytes held on disk, over every segment."""
        return sum(self._sizes.values())

    def close(self) -> None:
        """Release every segment."""
        for segment in list(self._files):
            self.release(segment)
