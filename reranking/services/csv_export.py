"""CSV export of a tenant's catalogue, safe to open in a spreadsheet.

Columns match the upload format (item_id, title, description, category, tags, price, available, then one
column per attribute), so an export can be edited and uploaded again. Every text cell that a spreadsheet
would read as a formula (starting with = + - @, a tab or a carriage return) gets a leading apostrophe
(OWASP's advice against CSV injection); the apostrophe stays in the value if the file is uploaded again.
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
    return "'" + value if value.startswith(FORMULA_START) else value


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
        yield [
            item.external_id, item.title, item.description, item.category, "|".join(map(str, item.tags or [])),
            "" if item.price is None else str(item.price), "true" if item.available else "false",
            *(str(attributes.get(key, "")) for key in keys),
        ]


def catalogue_csv(items: QuerySet[Item]) -> Iterator[str]:
    return csv_lines(item_rows(items))


def csv_download(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    """Stream CSV lines as a file download (the API and the web UI share it)."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # a tenant's data: no shared or browser cache keeps a copy
    return response
