"""CSV export of a tenant's catalogue, safe to open in a spreadsheet.

Columns match the upload format (item_id, title, description, category, tags, price, available, then one
column per attribute), so an export can be edited and uploaded again. Every text cell that a spreadsheet
would read as a formula (starting with = + - @, a tab or a carriage return) gets a leading apostrophe
(OWASP's advice against CSV injection). So that the guard is reversible, a value that already starts with
apostrophes before such a character gets one more; upload removes exactly one (`unguarded`), so an export
uploaded again changes nothing.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from reranking.models import Item

COLUMNS = ["item_id", "title", "description", "category", "tags", "price", "available"]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: str) -> str:
    """Return a cell a spreadsheet shows as text, never evaluates."""
    return "'" + value if value.lstrip("'").startswith(FORMULA_START) else value


def unguarded(cell: str) -> str:
    """Undo neutralised(): drop the one apostrophe export put before a formula-like cell."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_START) else cell


def item_cells(item: Item) -> dict[str, str]:
    """The cells export writes for an item's own fields (upload compares against them: an unchanged cell
    leaves the stored value, whatever its type, as it was)."""
    return {
        "item_id": item.external_id, "title": item.title, "description": item.description, "category": item.category,
        "tags": "|".join(map(str, item.tags or [])), "price": "" if item.price is None else str(item.price),
        "available": "true" if item.available else "false",
    }


def attribute_cell(value) -> str:
    return "" if value is None else str(value)


class _Line:
    """A write-only file that hands back what csv.writer writes, one line at a time."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Line())
    for row in rows:
        yield writer.writerow([neutralised(cell) if isinstance(cell, str) else cell for cell in row])


def item_rows(items: QuerySet[Item]) -> Iterator[list]:
    """The header and one row per live item, ordered by item id; attribute keys become columns."""
    live = items.filter(is_deleted=False).order_by("external_id")
    keys = sorted({key for attributes in live.values_list("attributes", flat=True).iterator()
                   if isinstance(attributes, dict) for key in attributes} - set(COLUMNS))
    yield COLUMNS + keys
    for item in live.iterator(chunk_size=2000):
        attributes = item.attributes if isinstance(item.attributes, dict) else {}
        cells = item_cells(item)
        yield [*(cells[name] for name in COLUMNS), *(attribute_cell(attributes.get(key)) for key in keys)]


def catalogue_csv(items: QuerySet[Item]) -> Iterator[str]:
    return csv_lines(item_rows(items))


def csv_download(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    """Stream CSV lines as a file download (the API and the web UI share it)."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # a tenant's data: no shared or browser cache keeps a copy
    return response
