"""kctl cp's tar handling: the top entry is renamed to the destination, escapes are refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from kubectl.tarcopy import pack, unpack


def test_round_trip_renames_the_top_entry(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"\x00\x01data")
    data = pack(src, "renamed")
    assert unpack(data, "renamed", tmp_path / "out") == []
    assert (tmp_path / "out" / "d" / "f").read_bytes() == b"\x00\x01data"


def test_single_file_becomes_the_destination_file(tmp_path: Path) -> None:
    (tmp_path / "one").write_text("x")
    unpack(pack(tmp_path / "one", "one"), "one", tmp_path / "copy")
    assert (tmp_path / "copy").read_text() == "x"


def test_entries_escaping_the_destination_are_skipped(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in ("top/../../evil", "top/ok"):
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"!"))
        link = tarfile.TarInfo("top/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    warnings = unpack(buffer.getvalue(), "top", tmp_path / "dest")
    assert (tmp_path / "dest" / "ok").read_bytes() == b"!"
    assert not (tmp_path / "evil").exists() and not (tmp_path / "dest" / "link").exists()
    assert any("link" in w for w in warnings)
