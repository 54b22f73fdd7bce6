"""Reading saved HTML pages: each table as rows of cells, the text around them as lines.

Listing pages saved from a browser or an admin panel hold the leaked rows in `<table>`s;
scripts and styles are dropped, and an element too long for a line stops the read.
"""

from collections.abc import Iterator
from html.parser import HTMLParser

from watchers.decoding import Encoding, text_chunks
from watchers.dumpbase import (
    FREE_TEXT,
    Block,
    Context,
    DumpError,
    Peeked,
    RowBlocks,
    Table,
    size_text,
)

_BLOCK_TAGS = frozenset(
    (
        *("p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5"),
        *("h6", "section", "article", "header", "footer", "blockquote", "pre", "hr", "form"),
        *("title", "body", "nav", "aside", "main", "tr", "table"),
    )
)
_IGNORED_TAGS = frozenset(("script", "style", "noscript", "template"))


class _HtmlEvents(HTMLParser):
    """Tables as rows of cells, the rest as lines of text, collected as they are parsed."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.events: list[tuple[str, list[str], bool]] = []  # ("text"|"row"|"end", ...)
        self.too_long = 0
        self._text: list[str] = []
        self._size = 0
        self._ignored = 0
        self._tables = 0
        self._row: list[str] | None = None
        self._row_header = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _IGNORED_TAGS:
            self._ignored += 1
        elif tag == "table":
            self._end_text()
            self._tables += 1
        elif self._tables:
            if tag == "tr":
                self._end_row()
                self._row, self._row_header = [], True
            elif tag in ("td", "th"):
                self._end_cell()
                if self._row is None:
                    self._row, self._row_header = [], True
                self._cell = []
                self._row_header = self._row_header and tag == "th"
            elif tag == "br" and self._cell is not None:
                self._cell.append(" ")
        elif tag in _BLOCK_TAGS:
            self._end_text()

    def handle_endtag(self, tag: str) -> None:
        if tag in _IGNORED_TAGS:
            self._ignored = max(self._ignored - 1, 0)
        elif tag == "table" and self._tables:
            self._end_row()
            self._tables -= 1
            if not self._tables:
                self.events.append(("end", [], False))
        elif self._tables:
            if tag == "tr":
                self._end_row()
            elif tag in ("td", "th"):
                self._end_cell()
        elif tag in _BLOCK_TAGS:
            self._end_text()

    def handle_data(self, data: str) -> None:
        if self._ignored:
            return
        if self._tables:
            if self._cell is not None:
                self._cell.append(data)
            return
        self._size += len(data)
        if self._size > self.limit:
            if self._text:
                self.too_long += 1
            self._text, self._size = [], 0
            return
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self._end_row()
        self._end_text()

    def _end_text(self) -> None:
        line = " ".join("".join(self._text).split())
        self._text, self._size = [], 0
        if line:
            self.events.append(("text", [line], False))

    def _end_cell(self) -> None:
        if self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row is not None and any(self._row):
            self.events.append(("row", self._row, self._row_header))
        self._row = None


def read_html(source: Peeked, encoding: Encoding, member: str, context: Context) -> Iterator[Block]:
    limit = context.limits.max_line_bytes
    parser = _HtmlEvents(limit)
    blocks = RowBlocks(context, member)
    table: Table | None = None

    def drain() -> Iterator[Block]:
        nonlocal table
        events, parser.events = parser.events, []
        for kind, cells, header_hint in events:
            if kind == "row":
                table = table or Table(blocks)
                yield from table.add(cells, header_hint)
                continue
            if table is not None:
                yield from table.finish()
                table = None
            if kind == "text":
                yield from blocks.set_layout(FREE_TEXT)
                yield from blocks.add(cells)

    for text in text_chunks(source, encoding, context):
        parser.feed(text)
        yield from drain()
        if len(parser.rawdata) > 4 * limit:
            raise DumpError(f"{member or 'the file'}: an HTML element runs past {size_text(limit)}")
    parser.close()
    yield from drain()
    if table is not None:
        yield from table.finish()
    context.skip(f"line longer than {size_text(limit)}", parser.too_long)
    yield from blocks.flush()
