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


def test_a_bad_row_is_shown_with_its_line_and_nothing_can_be_imported(owner, url, alice, catalogue):
    before = items(alice.tenant)
    html = owner.post(url("ui:upload"), {"file": csv_file(BAD)}).content.decode()
    assert "1 error" in html
    row = re.search(r'<tr class="error-row">(.*?)</tr>', html, re.S).group(1)
    assert ">5<" in row and "new-2" in row and "price" in row
    assert "Confirm import" not in html
    assert owner.post(url("ui:upload-confirm"), {"token": ""}).status_code == 302
    assert items(alice.tenant) == before


def test_a_stale_token_is_refused(owner, url, alice, catalogue):
    owner.post(url("ui:upload"), {"file": csv_file(GOOD)})
    response = owner.post(url("ui:upload-confirm"), {"token": "forged"}, follow=True)
    assert "no longer current" in response.content.decode()
    assert not Item.objects.filter(tenant=alice.tenant, external_id="new-1").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("name,price\nx,1\n", "needs a header row with at least item_id and title"),
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
