"""The import commands: import_catalogue, import_interactions and import_movielens (both layouts)."""
from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from reranking.models import EndUser, Event, Item

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command(*args, "--no-progress", stdout=out)
    return out.getvalue()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


# --- import_catalogue ---------------------------------------------------------------------------


def test_import_catalogue_upserts_a_csv(alice, tmp_path):
    csv = write(tmp_path / "items.csv", "item_id,title,category,price,brand\na,Apple,fruit,1.5,Acme\nb,Banana,fruit,,\n")
    assert "items: 2 created, 0 updated, 0 unchanged" in run("import_catalogue", "--tenant", "alice-shop", str(csv))
    assert Item.objects.get(tenant=alice.tenant, external_id="a").attributes == {"brand": "Acme"}
    assert "items: 0 created, 0 updated, 2 unchanged" in run("import_catalogue", "--tenant", "alice-shop", str(csv))


def test_import_catalogue_refuses_a_file_with_a_bad_row_and_writes_nothing(alice, tmp_path):
    csv = write(tmp_path / "items.csv", "item_id,title,price\na,Apple,1\nb,,2\n")
    with pytest.raises(CommandError, match=r"1 invalid rows; nothing was written:\n  row 1: title: This field is required"):
        run("import_catalogue", "--tenant", "alice-shop", str(csv))
    assert not Item.objects.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("name,price\nApple,1\n", "at least item_id and title"),
        ("item_id,title\na,Apple,surplus\n", "more cells than the header"),
    ],
)
def test_import_catalogue_refuses_a_file_it_cannot_read(alice, tmp_path, content, words):
    with pytest.raises(CommandError, match=words):
        run("import_catalogue", "--tenant", "alice-shop", str(write(tmp_path / "items.csv", content)))
    assert not Item.objects.exists()


def test_import_catalogue_refuses_a_missing_file(alice, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run("import_catalogue", "--tenant", "alice-shop", str(tmp_path / "nope.csv"))


def test_import_commands_refuse_an_unknown_tenant(tmp_path):
    csv = write(tmp_path / "items.csv", "item_id,title\na,Apple\n")
    with pytest.raises(CommandError, match="No tenant with slug 'ghost'"):
        run("import_catalogue", "--tenant", "ghost", str(csv))


# --- import_interactions ------------------------------------------------------------------------


def test_import_interactions_ingests_a_csv_and_reports_bad_rows(alice, catalogue, tmp_path):
    csv = write(tmp_path / "events.csv", (
        "user_id,item_id,timestamp,event_type,value,ignored\n"
        "ann,sku-1,2026-01-01T10:00:00Z,click,,x\n"
        "ann,sku-2,1767225600,purchase,9.5,x\n"
        "ben,ghost,1767225600,view,,x\n"
    ))
    output = run("import_interactions", "--tenant", "alice-shop", str(csv))
    assert "events: 2 stored, 0 duplicates, 1 rejected" in output
    assert "row 2: item_id: Unknown item 'ghost'." in output
    assert Event.objects.filter(tenant=alice.tenant).count() == 2
    assert Event.objects.get(event_type="purchase").value == 9.5
    assert list(EndUser.objects.values_list("external_id", flat=True)) == ["ann"]


def test_import_interactions_numbers_rows_across_chunks(alice, catalogue, tmp_path):
    # The file goes in as 10,000-row API batches; a bad row in the second keeps its place in the file.
    rows = "".join(f"u{n % 50},{'ghost' if n == 10_002 else 'sku-1'},1767225600\n" for n in range(10_005))
    csv = write(tmp_path / "events.csv", "user_id,item_id,timestamp\n" + rows)
    output = run("import_interactions", "--tenant", "alice-shop", str(csv))
    assert "events: 10004 stored, 0 duplicates, 1 rejected" in output
    assert "row 10002: item_id: Unknown item 'ghost'." in output


def test_import_interactions_refuses_a_file_without_the_needed_columns(alice, catalogue, tmp_path):
    csv = write(tmp_path / "events.csv", "user,item\nann,sku-1\n")
    with pytest.raises(CommandError, match="lacks the column\\(s\\) item_id, timestamp, user_id"):
        run("import_interactions", "--tenant", "alice-shop", str(csv))
    assert not Event.objects.exists()


def test_import_interactions_refuses_a_missing_file(alice, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        run("import_interactions", "--tenant", "alice-shop", str(tmp_path / "nope.csv"))


def test_import_interactions_refuses_a_file_that_is_not_utf8(alice, catalogue, tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"user_id,item_id,timestamp\n\xff\xfe,sku-1,1\n")
    with pytest.raises(CommandError, match="utf-8"):
        run("import_interactions", "--tenant", "alice-shop", str(path))
    assert not Event.objects.exists()


# --- import_movielens ---------------------------------------------------------------------------


@pytest.fixture
def ml_latest_small(tmp_path) -> Path:
    """A tiny folder in the ml-latest-small layout."""
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    write(folder / "movies.csv", (
        "movieId,title,genres\n"
        '1,Toy Story (1995),Adventure|Animation|Children\n'
        '2,"Heat, The (1995)",Action|Crime\n'
        "3,Unknown Film (2001),(no genres listed)\n"
    ))
    write(folder / "ratings.csv", (
        "userId,movieId,rating,timestamp\n"
        "1,1,4.0,964982703\n"
        "1,2,3.5,964981247\n"
        "2,1,5.0,964982224\n"
        "2,9,2.0,964982224\n"  # a movie not in movies.csv
    ))
    write(folder / "tags.csv", "userId,movieId,tag,timestamp\n1,1,pixar,1\n2,1,pixar,2\n2,1,funny,3\n")
    return folder


@pytest.fixture
def ml_100k(tmp_path) -> Path:
    """A tiny folder in the ml-100k layout: pipe-separated latin-1 items, tab-separated ratings."""
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    #   id|title|release|video release|url|19 genre flags (unknown, Action, Adventure, Animation, Children's, Comedy, ...)
    flags_toy = "|".join(["0", "0", "0", "1", "1", "1"] + ["0"] * 13)
    flags_other = "|".join(["0", "1"] + ["0"] * 17)
    write(folder / "u.item", (
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags_toy}\n"
        f"2|Amélie (2001)|01-Jan-2001||http://y|{flags_other}\n"
    ), encoding="latin-1")
    write(folder / "u.data", "196\t1\t3\t881250949\n186\t2\t5\t891717742\n196\t2\t4\t881251000\n\n")
    return folder


def test_import_movielens_loads_the_latest_small_layout(alice, ml_latest_small):
    output = run("import_movielens", "--tenant", "alice-shop", str(ml_latest_small))
    assert "items: 3 created, 0 updated, 0 unchanged" in output
    assert "events: 3 stored, 0 duplicates, 1 rejected" in output
    assert "row 3: item_id: Unknown item '9'." in output
    toy = Item.objects.get(tenant=alice.tenant, external_id="1")
    assert (toy.title, toy.category) == ("Toy Story (1995)", "Adventure")
    assert toy.tags == ["Adventure", "Animation", "Children", "pixar", "funny"]
    assert Item.objects.get(tenant=alice.tenant, external_id="2").title == "Heat, The (1995)"
    assert Item.objects.get(tenant=alice.tenant, external_id="3").category == ""
    alice.tenant.refresh_from_db()
    assert "rating" in alice.tenant.event_types
    rating = Event.objects.get(user__external_id="1", item__external_id="2")
    assert (rating.event_type, rating.value, int(rating.timestamp.timestamp())) == ("rating", 3.5, 964981247)


def test_import_movielens_loads_the_100k_layout(alice, ml_100k):
    output = run("import_movielens", "--tenant", "alice-shop", str(ml_100k))
    assert "items: 2 created" in output
    assert "events: 3 stored, 0 duplicates, 0 rejected" in output
    toy = Item.objects.get(tenant=alice.tenant, external_id="1")
    assert (toy.category, toy.tags) == ("Animation", ["Animation", "Children's", "Comedy"])
    assert toy.attributes["release_date"] == "01-Jan-1995"
    assert Item.objects.get(tenant=alice.tenant, external_id="2").title == "Amélie (2001)"
    assert set(EndUser.objects.values_list("external_id", flat=True)) == {"196", "186"}


def test_import_movielens_twice_adds_the_ratings_again_but_not_the_items(alice, ml_100k):
    run("import_movielens", "--tenant", "alice-shop", str(ml_100k))
    assert "items: 0 created, 0 updated, 2 unchanged" in run("import_movielens", "--tenant", "alice-shop", str(ml_100k))
    # MovieLens ratings carry no event ids, so nothing marks them as already stored.
    assert Event.objects.count() == 6


def test_import_movielens_refuses_a_folder_of_neither_layout(alice, tmp_path):
    with pytest.raises(CommandError, match="neither movies.csv \\+ ratings.csv"):
        run("import_movielens", "--tenant", "alice-shop", str(tmp_path))


def test_import_movielens_refuses_a_broken_ratings_file_before_writing(alice, ml_latest_small):
    write(ml_latest_small / "ratings.csv", "user,movie\n1,1\n")
    with pytest.raises(CommandError, match="lacks the column 'userId'"):
        run("import_movielens", "--tenant", "alice-shop", str(ml_latest_small))
    assert not Item.objects.exists()
