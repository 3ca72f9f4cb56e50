"""Reading catalogue CSVs as spreadsheets save them (reranking/importers.py; pure, no database)."""
from __future__ import annotations

import pytest

from reranking.importers import read_catalogue_csv


@pytest.mark.parametrize("delimiter, name", [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_the_delimiter_is_detected(delimiter, name):
    text = delimiter.join(["item_id", "title", "price"]) + "\n" + delimiter.join(["a", "Lamp, small", "2"]) + "\n"
    if delimiter == ",":
        text = 'item_id,title,price\na,"Lamp, small",2\n'
    parsed = read_catalogue_csv(text.encode())
    assert parsed.rows == [{"item_id": "a", "title": "Lamp, small", "price": "2"}]
    assert parsed.described == f"UTF-8, {name}-separated, 1 rows"


def test_latin1_is_read_when_the_bytes_are_not_utf8():
    parsed = read_catalogue_csv("item_id;title\nx;Pâté\n".encode("cp1252"))
    assert parsed.rows[0]["title"] == "Pâté" and parsed.encoding == "Latin-1 (Windows-1252)"


def test_a_utf8_bom_is_dropped_and_extra_columns_become_attributes():
    parsed = read_catalogue_csv("\ufeffitem_id,title,brand,colour\nx,Lamp,Acme,\n".encode())
    assert parsed.columns[0] == "item_id"
    assert parsed.rows[0]["attributes"] == {"brand": "Acme"}  # an empty cell sets nothing
    assert parsed.present == {"item_id", "title", "attributes"}


def test_without_attribute_columns_attributes_are_left_alone():
    parsed = read_catalogue_csv(b"item_id,price\nx,3\n")
    assert "attributes" not in parsed.rows[0] and parsed.present == {"item_id", "price"}
