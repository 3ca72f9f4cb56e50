"""Read catalogue and interaction files users already have into row dicts (no ORM here).

Rows have the API's shape, so every importer feeds the same validating services as the REST API.
"""
from __future__ import annotations

import csv
from collections import defaultdict
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
