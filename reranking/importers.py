"""Read catalogue and interaction files users already have into row dicts (no ORM here).

Rows have the API's shape, so every importer feeds the same validating services as the REST API.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]


def movielens_layout(folder: Path) -> str:
    """Return 'latest' (ml-latest-small) or '100k' (ml-100k), or raise ValueError naming what is missing."""
    if (folder / "movies.csv").exists() and (folder / "ratings.csv").exists():
        return "latest"
    if (folder / "u.item").exists() and (folder / "u.data").exists():
        return "100k"
    raise ValueError(f"{folder} holds neither movies.csv + ratings.csv (ml-latest-small) nor u.item + u.data (ml-100k).")


def movielens_items(folder: Path) -> list[dict]:
    layout = movielens_layout(folder)
    items = []
    if layout == "latest":
        tags: dict[str, list[str]] = defaultdict(list)
        if (folder / "tags.csv").exists():
            with open(folder / "tags.csv", newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    tag = row["tag"].strip()
                    if tag and tag not in tags[row["movieId"]] and len(tags[row["movieId"]]) < 20:
                        tags[row["movieId"]].append(tag)
        with open(folder / "movies.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                genres = [g for g in row["genres"].split("|") if g and g != "(no genres listed)"]
                items.append(
                    {
                        "item_id": row["movieId"],
                        "title": row["title"].strip()[:500] or f"Movie {row['movieId']}",
                        "category": genres[0] if genres else "",
                        "tags": genres + tags.get(row["movieId"], []),
                        "attributes": {"genres": genres},
                    }
                )
    else:
        with open(folder / "u.item", encoding="latin-1") as handle:
            for line in handle:
                parts = line.rstrip("\n").split("|")
                if len(parts) < 5 + len(ML100K_GENRES):
                    continue
                genres = [g for g, flag in zip(ML100K_GENRES, parts[5:]) if flag == "1" and g != "unknown"]
                items.append(
                    {
                        "item_id": parts[0],
                        "title": parts[1].strip()[:500] or f"Movie {parts[0]}",
                        "category": genres[0] if genres else "",
                        "tags": genres,
                        "attributes": {"genres": genres, "release_date": parts[2]},
                    }
                )
    return items


def movielens_events(folder: Path) -> Iterator[dict]:
    """Yield ratings as 'rating' events in file order (timestamps are Unix seconds)."""
    if movielens_layout(folder) == "latest":
        with open(folder / "ratings.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield {
                    "user_id": row["userId"], "item_id": row["movieId"], "event_type": "rating",
                    "value": float(row["rating"]), "timestamp": int(row["timestamp"]),
                }
    else:
        with open(folder / "u.data", encoding="latin-1") as handle:
            for line in handle:
                if not line.strip():
                    continue
                user, item, rating, stamp = line.split("\t")
                yield {
                    "user_id": user, "item_id": item, "event_type": "rating",
                    "value": float(rating), "timestamp": int(stamp),
                }


def generic_events(path: Path) -> Iterator[dict]:
    """Yield rows of a user_id,item_id,timestamp[,event_type,value] CSV, keeping extra columns out."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"user_id", "item_id", "timestamp"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}.")
        for row in reader:
            event = {"user_id": row["user_id"], "item_id": row["item_id"], "timestamp": row["timestamp"]}
            if row.get("event_type"):
                event["event_type"] = row["event_type"]
            if row.get("value") not in (None, ""):
                event["value"] = row["value"]
            yield event


# --- catalogue CSV from the web UI -----------------------------------------------------------------

CATALOGUE_COLUMNS = ("item_id", "title", "description", "category", "tags", "price", "available")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass
class CatalogueFile:
    """A parsed catalogue CSV: rows in the API's shape, each row's line in the file, and how it was read."""

    rows: list[dict]
    lines: list[int]  # the file line each row starts on (the header is line 1)
    encoding: str  # "UTF-8" or "Latin-1 (Windows-1252)"
    delimiter: str  # ",", ";", "\t" or "|"
    columns: list[str]  # the header's columns, as in the file
    raw: list[dict] = field(default_factory=list)  # each row's cells as read, for the rejected-rows download

    @property
    def described(self) -> str:
        return f"{self.encoding}, {DELIMITERS[self.delimiter]}-separated, {len(self.rows):,} rows"

    @property
    def present(self) -> set[str]:
        """The item fields this file sets; a field it has no column for is left as it is."""
        fields = {name for name in self.columns if name in CATALOGUE_COLUMNS}
        if set(self.columns) - set(CATALOGUE_COLUMNS):
            fields.add("attributes")
        return fields


def decode(data: bytes) -> tuple[str, str]:
    """Return (text, encoding name): UTF-8 (with or without BOM), else Windows-1252, Excel's default."""
    try:
        return data.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "Latin-1 (Windows-1252)"


def sniff_delimiter(header: str) -> str:
    """Return the delimiter of a header line: the candidate that splits it into the most columns."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


class _NumberedLines:
    """Iterate a text's lines, counting them, so a row's first line is known even across quoted newlines."""

    def __init__(self, text: str) -> None:
        self.lines = iter(io.StringIO(text, newline=""))
        self.n = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.n += 1
        return line


def read_catalogue_csv(data: bytes) -> CatalogueFile:
    """Parse a catalogue CSV as spreadsheets save it: encoding and delimiter detected, lines numbered.

    Columns beyond the known ones become attributes; blank lines are skipped. Raise ValueError with a
    message for the user.
    """
    text, encoding = decode(data)
    delimiter = sniff_delimiter(text.split("\n", 1)[0])
    source = _NumberedLines(text)
    reader = csv.reader(source, delimiter=delimiter)
    try:
        columns = [c.strip() for c in next(reader, [])]
        if "item_id" not in columns:
            found = ", ".join(columns[:6]) or "nothing"
            raise ValueError(f"The header needs an item_id column (read as {DELIMITERS[delimiter]}-separated "
                             f"{encoding}: found {found}).")
        extra = set(columns) - set(CATALOGUE_COLUMNS)
        rows, lines, raw = [], [], []
        while True:
            start = source.n + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue  # a blank line (spreadsheets leave them at the end)
            if len(cells) > len(columns):
                raise ValueError(f"Line {start} has more cells than the header.")
            record = dict(zip(columns, cells + [""] * (len(columns) - len(cells))))
            row = {key: value for key, value in record.items() if key in CATALOGUE_COLUMNS}
            if extra:  # attribute columns: these keys change, the item's other attributes stay
                row["attributes"] = {key: value for key, value in record.items() if key in extra and value != ""}
            rows.append(row)
            lines.append(start)
            raw.append(record)
    except csv.Error as exc:
        raise ValueError(f"Line {source.n}: {exc}.") from exc
    return CatalogueFile(rows=rows, lines=lines, encoding=encoding, delimiter=delimiter, columns=columns, raw=raw)
