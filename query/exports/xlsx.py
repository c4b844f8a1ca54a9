"""Excel workbooks (docs/contracts.md, Exports that open right in Excel): typed, streamed.

The columns are the CSV's (`query.exports.csv`: its header in the asked
language, its text columns), with the date as a real date-time in the
request's time zone, named in its header. Text cells are inline strings, so
nothing in them runs as a formula and no guard character is needed.

ClickHouse writes each data row's sheet XML itself (`FORMAT TSVRaw`: one
`<row>` per line, XML-escaped in SQL, with the characters XML 1.0 forbids
removed); Python only frames those bytes in a zip stream (`zipfile` on a
sink it cannot seek, so each entry's sizes follow its data). Why: a Python
step per cell is what makes the usual writers slow; here Python touches
each chunk once, to compress it.

Rows past Excel's 1,048,576 per sheet continue on a new sheet, each with
the header row, frozen and filtered like the first.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Final
from xml.sax.saxutils import escape

from common.store import Store
from query.exports.cells import CELL_COLUMNS, header_row
from query.exports.sink import ByteSink
from query.exports.texts import guarded_months, guarded_slices, stored_current, texts_sql
from query.filters import ActivityFilter
from query.reads.columns import export_query

SHEET_ROWS: Final = 1_048_576  # Excel's rows per sheet, the header row included
DATA_ROWS_PER_SHEET: Final = SHEET_ROWS - 1
# A sheet's XML stays below the 4 GiB a zip entry holds without Zip64 extensions.
SHEET_MAX_BYTES: Final = 3_900_000_000
CELL_MAX_CHARS: Final = 32_767  # Excel's longest cell text
# zlib's default level. Measured on 100,000 simulated rows (60 MB of sheet XML): level 6
# gives 2.0 MB, level 1 3.0 MB (half again as much to download and keep), for about
# twice level 1's deflate time, which stays below the time ClickHouse takes to write
# the XML (`python -m tests.bench.bench_xlsx` times the whole export).
COMPRESS_LEVEL: Final = 6
SHEET_NAME: Final = "Activity"
# Column widths in characters: the date, then each text column in `CELL_COLUMNS` order.
COLUMN_WIDTHS: Final = (24, 32, 40, 30, 16, 60)
ZONE_PARAM: Final = "xlsx_tz"
# Excel's day 0 is 1899-12-30: 25569 days before 1970-01-01.
_EPOCH_DAYS = 25569
_MS_PER_DAY = 86_400_000
# Cell styles (indexes into styles.xml's cellXfs).
_DATE_STYLE, _HEADER_STYLE = 1, 2
# Characters XML 1.0 forbids (re2 syntax, as a ClickHouse string literal).
_FORBIDDEN_SQL = r"'[\\x00-\\x08\\x0B\\x0C\\x0E-\\x1F\\x{FFFE}\\x{FFFF}]'"
# Excel reads `_xHHHH_` in a string as an escaped character: its own `_` escape keeps it text.
_EXCEL_ESCAPE_SQL = r"'_(x[0-9A-Fa-f]{4}_)'"


def text_cell_sql(column: str) -> str:
    """SQL for one text cell of a row (`column` is one of our identifiers).

    Invalid UTF-8 becomes U+FFFD, forbidden characters go, the text is cut at
    Excel's cell limit, then escaped: `& < >` as entities, CR and LF as
    character references (so a raw newline only ever ends a row). An empty
    value is an empty cell.
    """
    text = f"replaceRegexpAll(toValidUTF8({column}), {_FORBIDDEN_SQL}, '')"
    text = f"substringUTF8({text}, 1, {CELL_MAX_CHARS})"
    text = f"replaceRegexpAll({text}, {_EXCEL_ESCAPE_SQL}, '_x005F_\\\\1')"
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = f"replaceAll({text}, '{raw}', '{entity}')"
    text = f"replaceAll(replaceAll({text}, '\\r', '&#13;'), '\\n', '&#10;')"
    return (
        f"if(empty({column}), '<c/>', "
        f"concat('<c t=\"inlineStr\"><is><t xml:space=\"preserve\">', {text}, '</t></is></c>'))"
    )


def date_cell_sql() -> str:
    """SQL for the date cell: Excel's serial day number of the event in the export's zone."""
    local_ms = (
        f"toUnixTimestamp64Milli(occurred_at) + "
        f"timeZoneOffset(toTimeZone(occurred_at, {{{ZONE_PARAM}:String}})) * 1000"
    )
    serial = f"({local_ms}) / {_MS_PER_DAY} + {_EPOCH_DAYS}"
    return f"concat('<c s=\"{_DATE_STYLE}\"><v>', toString({serial}), '</v></c>')"


def row_select(lang: str = "en", *, stored: bool = False) -> str:
    """The SELECT list whose one column is a data row's `<row>` element, its texts in `lang`
    (stored, or rendered in SQL: `query/exports/texts.py`)."""
    readable = texts_sql(stored, lang)
    cells = ", ".join(
        [
            date_cell_sql(),
            *(text_cell_sql(f"({readable[c]})" if c in readable else c) for c in CELL_COLUMNS),
        ]
    )
    return f"concat('<row>', {cells}, '</row>')"


def xlsx_header(lang: str, tz: str) -> list[str]:
    """The header row: the CSV's, with the date column naming the export's zone."""
    return [f"Date ({tz})", *header_row(lang)[1:]]


def stream_xlsx(
    store: Store, flt: ActivityFilter, lang: str = "en", *, sliced: bool | None = None
) -> Iterator[bytes]:
    """The export as an .xlsx workbook, bytes as they are compressed.

    An embedded store streams one query per month (`month_filters`) on a
    connection of its own; a server (or `sliced=True`) runs one bounded query
    per key-range slice, as the CSV export does. A bad `lang` raises at the call.
    """
    header = xlsx_header(lang, flt.range.tz)
    if sliced is None:
        sliced = store.location.mode != "embedded"
    stored = stored_current(store, flt, lang)
    select = row_select(lang, stored=stored)
    rows: Iterable[bytes]
    if not sliced:
        months = (
            (
                export_query(select, where, prewhere=flt.key_where()),
                {**params, ZONE_PARAM: flt.range.tz},
            )
            for where, params in guarded_months(flt, stored, lang)
        )
        rows = store.stream_formatted_each(months, "TSVRaw")
    else:
        rows = (
            store.query_formatted(
                export_query(select, where, prewhere=flt.key_where()),
                {**params, ZONE_PARAM: flt.range.tz},
                "TSVRaw",
            )
            for where, params in guarded_slices(store, flt, stored, lang)
        )
    return workbook_chunks(header, rows)


def workbook_chunks(header: list[str], rows: Iterable[bytes]) -> Iterator[bytes]:
    """Frame `rows` (chunks of newline-terminated `<row>` elements) as a workbook's bytes."""
    book = _Workbook(header)
    try:
        for chunk in rows:
            book.add_rows(chunk)
            out = book.sink.take()
            if out:
                yield out
        book.finish()
        yield book.sink.take()
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()


class _Workbook:
    """The zip stream being written: the sheet under way and the sheets done."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.sink = ByteSink()
        self.zip = zipfile.ZipFile(
            self.sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        self.sheet_rows: list[int] = []  # data rows of each sheet begun
        self.sheet_bytes = 0
        self.sheet = self._open_sheet()

    def _open_sheet(self) -> IO[bytes]:
        number = len(self.sheet_rows) + 1
        handle = self.zip.open(f"xl/worksheets/sheet{number}.xml", "w")
        self.sheet_rows.append(0)
        head = _sheet_head(self.header).encode("utf-8")
        handle.write(head)
        self.sheet_bytes = len(head)
        return handle

    def _close_sheet(self) -> None:
        self._write(_sheet_tail(len(self.header), self.sheet_rows[-1]).encode("utf-8"))
        self.sheet.close()

    def _write(self, data: bytes) -> None:
        self.sheet.write(data)
        self.sheet_bytes += len(data)

    def add_rows(self, chunk: bytes) -> None:
        """Append whole rows, continuing on a new sheet where one is full."""
        while chunk:
            rows = self.sheet_rows[-1]
            if rows and (
                rows == DATA_ROWS_PER_SHEET or self.sheet_bytes + len(chunk) > SHEET_MAX_BYTES
            ):
                self._close_sheet()
                self.sheet = self._open_sheet()
                rows = 0
            room = DATA_ROWS_PER_SHEET - rows
            count = chunk.count(b"\n")
            if count <= room:
                self._write(chunk)
                self.sheet_rows[-1] += count
                return
            cut = _after_newline(chunk, room)
            self._write(chunk[:cut])
            self.sheet_rows[-1] += room
            chunk = chunk[cut:]

    def finish(self) -> None:
        """Close the last sheet and write the parts that name the sheets."""
        self._close_sheet()
        count = len(self.sheet_rows)
        for name, text in (
            ("xl/workbook.xml", _workbook_xml(self.sheet_rows, len(self.header))),
            ("xl/_rels/workbook.xml.rels", _workbook_rels(count)),
            ("xl/styles.xml", _STYLES),
            ("_rels/.rels", _ROOT_RELS),
            ("[Content_Types].xml", _content_types(count)),
        ):
            # Through `open`, not `writestr`: its entries carry a fixed date, so the same
            # range gives the same bytes (and the same SHA-256) every time.
            with self.zip.open(name, "w") as part:
                part.write(text.encode("utf-8"))
        self.zip.close()


def _after_newline(chunk: bytes, count: int) -> int:
    """The offset just past the `count`-th newline of `chunk` (count >= 1)."""
    at = -1
    for _ in range(count):
        at = chunk.index(b"\n", at + 1)
    return at + 1


def column_letter(index: int) -> str:
    """`A`, `B`, ... for a 0-based column index."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def sheet_name(number: int) -> str:
    return SHEET_NAME if number == 1 else f"{SHEET_NAME} ({number})"


_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _sheet_head(header: list[str]) -> str:
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
        for i, w in enumerate(COLUMN_WIDTHS[: len(header)], start=1)
    )
    cells = "".join(
        f'<c s="{_HEADER_STYLE}" t="inlineStr"><is><t>{escape(name)}</t></is></c>'
        for name in header
    )
    return (
        f"{_XML}<worksheet {_NS}>"
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
        "</sheetView></sheetViews>"
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols>'
        f'<sheetData>\n<row r="1">{cells}</row>\n'
    )


def _filter_ref(columns: int, rows: int) -> str:
    return f"A1:{column_letter(columns - 1)}{rows + 1}"


def _sheet_tail(columns: int, rows: int) -> str:
    return f'</sheetData><autoFilter ref="{_filter_ref(columns, rows)}"/></worksheet>'


def _workbook_xml(sheet_rows: list[int], columns: int) -> str:
    sheets = "".join(
        f'<sheet name="{sheet_name(n)}" sheetId="{n}" r:id="rId{n}"/>'
        for n in range(1, len(sheet_rows) + 1)
    )
    # Excel keeps each sheet's filter range as this hidden name; without it, it repairs the file.
    names = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n}" hidden="1">'
        f"'{sheet_name(n + 1)}'!$A$1:${column_letter(columns - 1)}${rows + 1}"
        "</definedName>"
        for n, rows in enumerate(sheet_rows)
    )
    return (
        f'{_XML}<workbook {_NS} xmlns:r="{_REL_NS}">'
        f"<bookViews><workbookView/></bookViews><sheets>{sheets}</sheets>"
        f"<definedNames>{names}</definedNames></workbook>"
    )


def _workbook_rels(count: int) -> str:
    sheet_type = f"{_REL_NS}/worksheet"
    rels = "".join(
        f'<Relationship Id="rId{n}" Type="{sheet_type}" Target="worksheets/sheet{n}.xml"/>'
        for n in range(1, count + 1)
    )
    styles = f'<Relationship Id="rId{count + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/>'
    return (
        f"{_XML}<Relationships "
        'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f"{rels}{styles}</Relationships>"
    )


def _content_types(count: int) -> str:
    main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{main}.worksheet+xml"/>'
        for n in range(1, count + 1)
    )
    return (
        f"{_XML}<Types "
        'xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{main}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{main}.styles+xml"/>'
        f"{sheets}</Types>"
    )


_ROOT_RELS = (
    f"{_XML}<Relationships "
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
# Cell styles: 0 default, 1 the date-time (to the millisecond), 2 the bold header.
_STYLES = (
    f"{_XML}<styleSheet {_NS}>"
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss.000"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
