"""CSV upload: a preview of what would change and per-row errors, nothing written until confirmed."""
from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from reranking.models import Item

pytestmark = pytest.mark.django_db

GOOD = (
    "item_id,title,category,tags,price,available,brand\n"
    "sku-1,Item 1,books,,1,true,\n"  # unchanged (as the catalogue fixture stored it)
    "sku-2,Item 2 revised,games,,2,true,\n"  # updated
    "new-1,Brand new,toys,kids|gift,9.99,true,Acme\n"  # created
)
BAD = GOOD + "new-2,Broken price,toys,,abc,true,\n"


def csv_file(text: str, name: str = "items.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def items(tenant) -> list:
    return sorted(Item.objects.for_tenant(tenant).values_list("external_id", "title"))


def test_preview_shows_what_would_change_and_writes_nothing(owner, url, alice, catalogue):
    before = items(alice.tenant)
    html = owner.post(url("ui:upload"), {"file": csv_file(GOOD)}).content.decode()
    assert "1 new" in html and "1 updated" in html and "1 unchanged" in html
    assert "Item 2 → Item 2 revised" in html
    assert "Confirm import" in html
    assert items(alice.tenant) == before


def test_confirm_writes_the_previewed_rows(owner, url, alice, catalogue):
    html = owner.post(url("ui:upload"), {"file": csv_file(GOOD)}).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    response = owner.post(url("ui:upload-confirm"), {"token": token}, follow=True)
    assert "Imported: 1 new, 1 updated, 1 unchanged." in response.content.decode()
    new = Item.objects.get(tenant=alice.tenant, external_id="new-1")
    assert new.tags == ["kids", "gift"] and new.attributes == {"brand": "Acme"}
    assert Item.objects.get(tenant=alice.tenant, external_id="sku-2").title == "Item 2 revised"
    # The preview is used once: confirming again does nothing.
    again = owner.post(url("ui:upload-confirm"), {"token": token}, follow=True)
    assert "no longer current" in again.content.decode()


def test_a_bad_row_is_shown_with_its_file_line_and_the_good_rows_can_be_imported(owner, url, alice, catalogue):
    before = items(alice.tenant)
    html = owner.post(url("ui:upload"), {"file": csv_file(BAD)}).content.decode()
    assert "1 row with errors" in html
    row = re.search(r'<tr class="error-row">(.*?)</tr>', html, re.S).group(1)
    assert ">5<" in row and "new-2" in row and "price" in row  # line 5 of the file (the header is line 1)
    assert items(alice.tenant) == before
    assert "Import the 3 good rows" in html
    rejected = owner.get(url("ui:upload-rejected"))
    assert rejected["Content-Disposition"].endswith('-rejected-rows.csv"')
    body = b"".join(rejected.streaming_content).decode()
    assert body.splitlines()[0] == "line,error,item_id,title,category,tags,price,available,brand"
    assert body.splitlines()[1].startswith("5,price: Must be a number.,new-2,Broken price")
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    response = owner.post(url("ui:upload-confirm"), {"token": token}, follow=True)
    assert "Imported: 1 new, 1 updated, 1 unchanged. 1 rows with errors were skipped." in response.content.decode()
    assert not Item.objects.filter(tenant=alice.tenant, external_id="new-2").exists()


def test_a_stale_token_is_refused(owner, url, alice, catalogue):
    owner.post(url("ui:upload"), {"file": csv_file(GOOD)})
    response = owner.post(url("ui:upload-confirm"), {"token": "forged"}, follow=True)
    assert "no longer current" in response.content.decode()
    assert not Item.objects.filter(tenant=alice.tenant, external_id="new-1").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,price\nx,1\n", "The header needs an item_id column (read as comma-separated UTF-8: found name, price)"),
        ("item_id,title\n", "has a header but no rows"),
        ("item_id,title\na,b,c\n", "more cells than the header"),
    ],
)
def test_a_malformed_file_is_refused_on_the_form(owner, url, text, message):
    response = owner.post(url("ui:upload"), {"file": csv_file(text)})
    assert response.status_code == 200
    assert message in response.content.decode()


def test_a_missing_file_is_refused_on_the_form(owner, url):
    assert "This field is required." in owner.post(url("ui:upload"), {}).content.decode()


def test_a_file_over_the_limit_is_refused(owner, url, monkeypatch):
    monkeypatch.setattr("reranking.forms.MAX_UPLOAD_BYTES", 10)
    assert "the limit here is 10" in owner.post(url("ui:upload"), {"file": csv_file(GOOD)}).content.decode()


def test_a_confirmed_upload_lands_in_the_uploaders_tenant_only(owner, url, alice, charlie):
    html = owner.post(url("ui:upload"), {"file": csv_file(GOOD)}).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    owner.post(url("ui:upload-confirm"), {"token": token})
    assert Item.objects.for_tenant(alice.tenant).filter(external_id="new-1").exists()
    assert not Item.objects.for_tenant(charlie.tenant).exists()


# --- files as spreadsheets save them; partial updates (issue 16) -----------------------------------


def test_a_latin1_semicolon_file_is_read_and_the_preview_says_how(owner, url, alice, catalogue):
    text = "item_id;title;available\nsku-1;Crème brûlée;yes\nnew-1;Café;NO\n"
    upload = SimpleUploadedFile("excel.csv", text.encode("cp1252"), content_type="text/csv")
    html = owner.post(url("ui:upload"), {"file": upload}).content.decode()
    assert "Read as Latin-1 (Windows-1252), semicolon-separated, 2 rows." in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    owner.post(url("ui:upload-confirm"), {"token": token})
    assert Item.objects.get(tenant=alice.tenant, external_id="sku-1").title == "Crème brûlée"
    assert Item.objects.get(tenant=alice.tenant, external_id="new-1").available is False


def test_only_the_columns_in_the_file_change(owner, url, alice, catalogue):
    from reranking.services.catalogue import upsert_items

    upsert_items(alice.tenant, [{"item_id": "sku-1", "title": "Item 1", "description": "Kept words",
                                 "tags": ["fragrance", "organic"], "attributes": {"brand": "Acme", "size": "L"},
                                 "category": "books", "price": 1}])
    html = owner.post(url("ui:upload"), {"file": csv_file("item_id,title,size\nsku-1,Item 1 new,XL\n")}).content.decode()
    assert "no column for <strong>description, category, tags, price, available</strong>" in html
    assert "<strong>title</strong>: Item 1 → Item 1 new" in html
    assert "<strong>attributes</strong>: brand: Acme; size: L → brand: Acme; size: XL" in html  # text, not reprs
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    owner.post(url("ui:upload-confirm"), {"token": token})
    item = Item.objects.get(tenant=alice.tenant, external_id="sku-1")
    assert (item.title, item.description, item.tags, item.category) == ("Item 1 new", "Kept words",
                                                                       ["fragrance", "organic"], "books")
    assert item.attributes == {"brand": "Acme", "size": "XL"} and item.price == 1


def test_row_lines_count_multiline_cells_and_skip_blank_lines(owner, url, alice, catalogue):
    text = 'item_id,title,price\nsku-1,"Two\nlines",1\n\nnew-9,Bad,abc\n'
    html = owner.post(url("ui:upload"), {"file": csv_file(text)}).content.decode()
    row = re.search(r'<tr class="error-row">(.*?)</tr>', html, re.S).group(1)
    assert ">5<" in row and "new-9" in row  # header 1, a cell over lines 2-3, a blank line 4, then line 5
