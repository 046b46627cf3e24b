"""Table layout: columns padded to their widest cell plus a gap of 3, the last column unpadded."""

from __future__ import annotations

from kubectl import printers


def test_render_pads_every_column_but_the_last_to_its_widest_cell() -> None:
    text, widths = printers.render(["NAME", "READY", "STATUS"], [["web-1", "1/1", "Running"],
                                                                  ["a", "0/1", "Pending"]])
    assert widths == [5, 5, 7]
    assert text.splitlines() == ["NAME    READY   STATUS", "web-1   1/1     Running", "a       0/1     Pending"]


def test_ragged_rows_and_trailing_spaces() -> None:
    text, widths = printers.render(None, [["x", ""], ["long-name"]])
    assert widths == [9, 0]
    assert text.splitlines() == ["x", "long-name"]


def test_a_watch_row_wider_than_the_table_keeps_a_gap_after_each_extra_cell() -> None:
    assert printers.format_row(["web", "1/1", "Running", "5s"], [3, 3]) == "web   1/1   Running   5s"


def test_cells_with_braces_are_printed_as_they_are() -> None:
    text, _ = printers.render(["A", "B"], [["{0}", "{x}"]])
    assert text.splitlines() == ["A     B", "{0}   {x}"]
