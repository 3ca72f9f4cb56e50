"""Forms of the tenant web UI: catalogue upload, re-rank rules and their preview, privacy, explorer."""
from __future__ import annotations

import json
import re

from django import forms
from django.conf import settings

from reranking import rules as engine
from reranking.importers import CatalogueFile, read_catalogue_csv
from reranking.models import Item, PrivacySettings, Rule, WebhookEvent
from reranking.services import identity, webhooks
from reranking.services import retention_preview as privacy_preview
from reranking.services.identity import LOCKED_MESSAGE

# The largest CSV the upload page accepts; bigger catalogues go through the API or import_catalogue.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_PREVIEW_CANDIDATES = 200

def params_schema() -> str:
    """Return the 'Params schema' section of the rule engine's docstring (the one source of truth)."""
    doc = engine.__doc__ or ""
    start = doc.find("Params schema")
    return doc[start:].split("\n", 2)[-1].rstrip() if start >= 0 else ""


class PrettyJSONField(forms.JSONField):
    """A JSON textarea shown indented, so nested conditions stay readable when edited."""

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False)


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class RuleForm(forms.ModelForm):
    """A re-rank rule. The model's clean() runs the engine's validation and names the failing field."""

    params = PrettyJSONField(
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "mono"}),
        help_text="The rule as JSON (the builder above writes it); see the schema and examples.",
    )

    class Meta:
        model = Rule
        fields = ["name", "kind", "params", "priority", "enabled", "starts_at", "ends_at"]
        widgets = {"starts_at": DateTimeLocalInput(), "ends_at": DateTimeLocalInput()}
        help_texts = {
            "starts_at": "Optional, UTC. The rule applies from this moment on.",
            "ends_at": "Optional, UTC. The rule stops applying at this moment.",
        }

    def __init__(self, *args, tenant, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.instance.tenant = tenant

    def _post_clean(self) -> None:
        # The model's clean() would re-validate the previous params when the JSON itself was malformed,
        # adding a second, misleading error; the JSON error alone says what to fix.
        if "params" in self._errors:
            return
        super()._post_clean()

    def clean(self) -> dict:
        data = super().clean()
        params = data.get("params")
        if data.get("kind") == "pin" and isinstance(params, dict) and isinstance(params.get("item_id"), str):
            live = Item.objects.for_tenant(self.tenant).filter(external_id=params["item_id"], is_deleted=False)
            if not live.exists():
                self.add_error("params", f"params.item_id: no item {params['item_id']!r} in the catalogue.")
        return data


class PreviewForm(forms.Form):
    """Whose list to preview: an end user's, or a pasted candidate list (scored for that user, if given)."""

    user = forms.CharField(required=False, max_length=200, label="End user id")
    candidates = forms.CharField(
        required=False,
        label="Or candidate item ids",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "sku-1, sku-2 ... (comma, space or one per line)"}),
    )

    def clean_candidates(self) -> list[str]:
        ids = [part for part in re.split(r"[\s,]+", self.cleaned_data["candidates"]) if part]
        if len(ids) > MAX_PREVIEW_CANDIDATES:
            raise forms.ValidationError(f"At most {MAX_PREVIEW_CANDIDATES} candidates; got {len(ids)}.")
        return list(dict.fromkeys(ids))

    def clean(self) -> dict:
        data = super().clean()
        if not self.errors and not data.get("user") and not data.get("candidates"):
            raise forms.ValidationError("Give an end user id or a list of candidate item ids.")
        return data

    @property
    def is_filled(self) -> bool:
        return any(self.data.get(self.add_prefix(name)) for name in ("user", "candidates"))


class UploadForm(forms.Form):
    file = forms.FileField(label="Catalogue CSV", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))

    def clean_file(self) -> CatalogueFile:
        """Return the parsed file (not yet validated; the preview shows row errors with their lines)."""
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(f"The file is {upload.size:,} bytes; the limit here is {MAX_UPLOAD_BYTES:,}.")
        try:
            parsed = read_catalogue_csv(upload.read())
        except ValueError as exc:
            raise forms.ValidationError(str(exc))
        if not parsed.rows:
            raise forms.ValidationError("The file has a header but no rows.")
        if len(parsed.rows) > settings.RECS_MAX_BATCH:
            raise forms.ValidationError(f"At most {settings.RECS_MAX_BATCH:,} rows per upload; got {len(parsed.rows):,}.")
        return parsed


class ItemForm(forms.Form):
    """One item's fields as text; services/rows.py validates them exactly as it does API rows."""

    title = forms.CharField(max_length=500)
    category = forms.CharField(max_length=200, required=False)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    tags = forms.CharField(required=False, help_text="Separated by commas.")
    price = forms.CharField(required=False, help_text="Empty for no price.")
    available = forms.BooleanField(required=False, label="Available (can be recommended)")
    attributes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
                                 help_text="One per line, as key: value.")

    @staticmethod
    def initial_for(item: Item) -> dict:
        attributes = item.attributes if isinstance(item.attributes, dict) else {}
        return {"title": item.title, "category": item.category, "description": item.description,
                "tags": ", ".join(map(str, item.tags or [])), "price": "" if item.price is None else item.price,
                "available": item.available, "attributes": "\n".join(f"{k}: {v}" for k, v in attributes.items())}

    def clean_attributes(self) -> dict:
        attributes = {}
        for n, line in enumerate(self.cleaned_data["attributes"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or not key.strip():
                raise forms.ValidationError(f"Line {n}: write key: value.")
            attributes[key.strip()] = value.strip()
        return attributes

    def row(self) -> dict:
        data = self.cleaned_data
        return {**data, "tags": [t.strip() for t in data["tags"].split(",") if t.strip()]}


class PrivacyForm(forms.ModelForm):
    class Meta:
        model = PrivacySettings
        fields = [
            "dp_enabled", "epsilon", "max_epsilon", "max_results", "retention_days", "erasure_retrain_hours",
            "pseudonymous_ids", "analytics_dp", "analytics_epsilon", "analytics_max_per_user",
            "dp_training", "dp_training_epsilon", "dp_training_delta", "max_examples_per_user",
            "dp_training_end_to_end", "budget_epsilon", "budget_delta", "budget_window_days",
        ]
        labels = {
            "dp_training_end_to_end": "Private end to end (first-stage counts too)",
            "budget_epsilon": "Privacy budget: total ε (empty = no limit)",
            "budget_delta": "Budget δ",
            "budget_window_days": "Budget window (days; empty = lifetime)",
            "pseudonymous_ids": "Store end-user ids as keyed hashes (pseudonymous ids)",
            "analytics_dp": "Private analytics: noisy dashboard counts",
            "analytics_epsilon": "Epsilon (ε) per dashboard release",
            "analytics_max_per_user": "Most events counted per user",
            "dp_enabled": "Differential privacy on served lists",
            "epsilon": "Epsilon (ε) per served list",
            "max_epsilon": "Largest ε a request may ask for",
            "max_results": "Most results per request under DP",
            "retention_days": "Keep interactions for (days)",
            "erasure_retrain_hours": "Retrain deadline after an erasure (hours)",
            "dp_training": "Differentially private training (DP-SGD)",
            "dp_training_epsilon": "Training ε per user",
            "dp_training_delta": "Training δ (0 = automatic)",
            "max_examples_per_user": "Training examples per user (at most)",
        }

    # Training options a post may leave out (older clients, scripts): they keep their saved values.
    KEEP_WHEN_MISSING = ("dp_training_epsilon", "dp_training_delta", "max_examples_per_user", "analytics_epsilon",
                         "analytics_max_per_user", "budget_delta")
    # Empty means "no limit" for these, so only a post that leaves the field out keeps the saved value.
    KEEP_WHEN_ABSENT = ("budget_epsilon", "budget_window_days")

    # Guards on what cannot be undone: a retention that deletes events needs the box ticked (the page
    # says how many go), and pseudonymous ids need the tenant's slug typed; once on, they show locked.
    confirm_retention = forms.BooleanField(required=False, label="Yes, delete these interactions")
    confirm_pseudonyms = forms.CharField(required=False, max_length=100, label="Type the tenant's slug to confirm")

    def __init__(self, *args, read_only: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in (*self.KEEP_WHEN_MISSING, *self.KEEP_WHEN_ABSENT):
            self.fields[name].required = False
        self.retention_preview: privacy_preview.RetentionPreview | None = None
        self.pseudonyms_locked = bool(self.instance.pseudonymous_ids)
        if self.pseudonyms_locked:
            self.fields["pseudonymous_ids"].disabled = True  # a disabled field keeps the saved value: on
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean_pseudonymous_ids(self) -> bool:
        # The instance still holds the saved value here (the form's values are applied after clean).
        if self.instance.pseudonymous_ids and not self.cleaned_data["pseudonymous_ids"]:
            raise forms.ValidationError(LOCKED_MESSAGE)
        return self.cleaned_data["pseudonymous_ids"]

    def clean(self) -> dict:
        data = super().clean()
        for name in self.KEEP_WHEN_MISSING:
            if data.get(name) is None and name not in self.errors:
                data[name] = getattr(self.instance, name)
        tenant = self.instance.tenant
        if "retention_days" not in self.errors:
            preview = privacy_preview.retention_preview(tenant, self.instance.retention_days, data.get("retention_days"))
            if preview is not None and preview.n_events and not data.get("confirm_retention"):
                self.retention_preview = preview
                self.add_error("confirm_retention", f"{preview.sentence} Tick the box to confirm, or choose a longer period.")
        if data.get("pseudonymous_ids") and not self.instance.pseudonymous_ids \
                and (data.get("confirm_pseudonyms") or "").strip() != tenant.slug:
            self.add_error("confirm_pseudonyms", f"Pseudonymous ids can never be turned off. Type {tenant.slug} to turn them on.")
        for name in self.KEEP_WHEN_ABSENT:
            if name not in self.data and name not in self.errors:
                data[name] = getattr(self.instance, name)
        return data



class EndUserForm(forms.Form):
    """Name one of the tenant's end users by the id the tenant's systems send; `user` is the row found."""

    user_id = forms.CharField(max_length=200, label="End user id", strip=True)

    def __init__(self, *args, tenant=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        self.user = None

    def clean_user_id(self) -> str:
        value = self.cleaned_data["user_id"]
        self.user = identity.find_user(self.tenant, value)
        if self.user is None:
            raise forms.ValidationError("No end user with this id in this tenant.")
        return value


class ErasureForm(EndUserForm):
    """Erase one end user; the checkbox is the confirmation (nothing of theirs can be restored)."""

    confirm = forms.BooleanField(
        label="I understand that this user's interactions and rankings are deleted for good and the model is retrained.",
        error_messages={"required": "Tick the box to confirm the erasure."},
    )


class ExportForm(EndUserForm):
    """Download everything held about one end user (an access request)."""

    prefix = "export"


class ExplorerForm(forms.Form):
    user = forms.CharField(max_length=200, label="End user id")


class WebhookForm(forms.Form):
    url = forms.CharField(max_length=500, label="URL", help_text="Where to POST the events: http(s), a public address.")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[WebhookEvent.MODEL_ACTIVATED, WebhookEvent.MODEL_NOT_ACTIVATED])
    description = forms.CharField(max_length=200, required=False, help_text="What receives them, e.g. 'shop backend'.")

    def clean_url(self) -> str:
        try:
            return webhooks.check_url(self.cleaned_data["url"])
        except webhooks.WebhookError as exc:
            raise forms.ValidationError(exc.message) from exc
