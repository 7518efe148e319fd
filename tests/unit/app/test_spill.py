"""The dedup's spill files: bytes back as written, nothing left in the directory, clear refusals."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from socialpulse.app.spill import SpillDirError, SpillFiles
from socialpulse.core.dedup import QUIET_PASSES, SPILL_AFTER_MINUTES, Deduplicator

T0 = 1_700_006_400.0


def _open_files_in(directory: Path) -> int:
    """Open descriptors of files in ``directory`` (unlinked ones read "…/#123 (deleted)")."""
    links = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:  # the descriptor iterdir itself used, closed since
            continue
    return sum(link.startswith(f"{directory}/") for link in links)


def test_segments_read_back_what_was_written_and_leave_no_file(tmp_path: Path) -> None:
    files = SpillFiles(tmp_path)
    rng = random.Random(5)
    written: dict[tuple[int, int], bytes] = {}
    for _ in range(200):
        segment = rng.randrange(4)
        data = rng.randbytes(rng.randrange(1, 5000))
        written[segment, files.put(segment, data)] = data
    for (segment, position), data in written.items():
        assert files.get(segment, position, len(data)) == data
    assert files.nbytes == sum(map(len, written.values()))
    assert list(tmp_path.iterdir()) == []  # unlinked from the start: a kill leaves nothing
    assert _open_files_in(tmp_path) == 4
    files.release(2)
    assert _open_files_in(tmp_path) == 3
    with pytest.raises(KeyError):
        files.get(2, 0, 1)
    files.close()
    assert _open_files_in(tmp_path) == 0 and files.nbytes == 0


def test_a_short_read_is_an_error_not_a_wrong_answer(tmp_path: Path) -> None:
    files = SpillFiles(tmp_path)
    files.put(0, b"12345678")
    with pytest.raises(OSError, match="4 of 8 bytes"):
        files.get(0, 4, 8)
    files.close()


def test_a_directory_that_takes_no_file_stops_start_up(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(SpillDirError, match="dedup_spill_dir.*gone.*dedup_spill: false"):
        SpillFiles(missing)


def test_the_dedup_on_spill_files_decides_like_the_dedup_in_memory(tmp_path: Path) -> None:
    files = SpillFiles(tmp_path)
    cold, warm = Deduplicator(7200, files), Deduplicator(7200)
    src = ("m", 0)
    events = [(T0 + 60 * (k % 20), f"e{k % 3000}", k) for k in range(6000)]
    for t, i, o in events:
        assert cold.is_duplicate(src, t, i, o) == warm.is_duplicate(src, t, i, o)
    for _ in range(QUIET_PASSES + 1):
        cold.expire(T0 + 60 * (20 + SPILL_AFTER_MINUTES))
    assert cold.ids_cold() == cold.ids_held() == 3000
    assert files.nbytes == 10 * 3000
    for t, i, o in events:
        assert cold.is_duplicate(src, t, i, o) == warm.is_duplicate(src, t, i, o)
    files.close()


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:26 / /mnt/ram rw,nosuid,nodev shared:2 - tmpfs tmpfs rw
31 22 0:27 / /srv/spill\\040files rw shared:3 - xfs /dev/sdb1 rw
32 31 0:28 / /srv/spill\\040files/ram rw shared:4 - ramfs ramfs rw
"""


@pytest.mark.parametrize(
    ("directory", "kind"),
    [
        ("/srv/x", "ext4"),
        ("/mnt/ram", "tmpfs"),
        ("/mnt/ram/deeper", "tmpfs"),
        ("/mnt/ramx", "ext4"),  # a prefix of the name is not a mount under it
        ("/srv/spill files/a", "xfs"),
        ("/srv/spill files/ram/b", "ramfs"),  # the longest mount point wins
    ],
)
def test_the_filesystem_of_a_directory_is_read_from_mountinfo(
    tmp_path: Path, directory: str, kind: str
) -> None:
    from socialpulse.app.spill import filesystem_type

    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    assert filesystem_type(Path(directory), info) == kind
    assert filesystem_type(Path(directory), tmp_path / "absent") is None


@pytest.mark.parametrize(("kind", "warned"), [("tmpfs", True), ("ramfs", True), ("ext4", False)])
def test_a_directory_in_memory_is_named_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, warned: bool
) -> None:
    from socialpulse.app import spill

    monkeypatch.setattr(spill, "filesystem_type", lambda _: kind)
    warning = SpillFiles(tmp_path).warning()
    if warned:
        assert warning is not None and str(tmp_path) in warning and kind in warning
    else:
        assert warning is None
