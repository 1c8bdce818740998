"""Terminal output: rich tables on a terminal, plain aligned text otherwise (a pipe, a file, grep).

``Output`` only lays out what the commands give it (a title, headers and rows, or a line); what to show
is decided in ``views``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

Row = Sequence[str]


class Output:
    """Tables and lines to ``stream``; rich when ``stream`` is a terminal (or ``rich`` is forced), plain otherwise."""

    def __init__(self, stream: TextIO | None = None, rich: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.rich = self.stream.isatty() if rich is None else rich
        self._console = Console(file=self.stream, highlight=False, soft_wrap=False) if self.rich else None

    def line(self, text: str = "", style: str | None = None) -> None:
        """One line of text (``style`` is a rich style, ignored in plain output)."""
        if self._console is not None:
            self._console.print(Text(text, style=style or ""))
        else:
            self.stream.write(text + "\n")

    def table(self, title: str, headers: Row, rows: Sequence[Row], right: frozenset[int] = frozenset()) -> None:
        """A table with ``headers``; columns whose index is in ``right`` are right-aligned (numbers)."""
        if self._console is not None:
            # Text, not str: cells hold recorded values, which rich would otherwise parse as markup.
            table = Table(title=Text(title), title_justify="left", header_style="bold")
            for index, header in enumerate(headers):
                table.add_column(Text(header), justify="right" if index in right else "left", overflow="fold")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            self._console.print(table)
            return
        self.stream.write(f"{title}\n")
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
        for row in (headers, *rows):
            cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
            self.stream.write("  ".join(cells).rstrip() + "\n")
        self.stream.write("\n")

    @property
    def bar_char(self) -> str:
        return "█" if self.rich else "#"
