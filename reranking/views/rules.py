"""Re-rank rule pages: list with a preview, create and edit with a draft preview, delete, toggle, move."""
from __future__ import annotations

import dataclasses
from datetime import datetime
from datetime import timezone as dt_timezone

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import CreateView, DeleteView, ListView, UpdateView

from reranking import rules as engine
from reranking.forms import PreviewForm, RuleForm, params_schema
from reranking.models import Item, Rule
from reranking.services import identity, serving
from tenants.web import TenantViewMixin

from . import rule_builder


class PreviewMixin:
    """Run serving.preview for a PreviewForm and shape (before, after) into two comparable columns."""

    def run_preview(self, form: PreviewForm, rules: list[engine.Rule]) -> dict | None:
        data = form.cleaned_data
        try:
            before, after = serving.preview(self.tenant, user_external_id=identity.stored_user_id(self.tenant, data["user"] or None),
                                            candidates=data["candidates"] or None, rules=rules, k=10)
        except serving.UnknownUser:
            form.add_error("user", "No end user with this id in this tenant.")
            return None
        except serving.ServingError as exc:
            form.add_error(None, exc.message)
            return None
        columns = preview_columns(before, after)
        if data["candidates"]:
            known = set(self.scoped(Item).filter(external_id__in=data["candidates"], is_deleted=False)
                        .values_list("external_id", flat=True))
            columns["unknown"] = [c for c in data["candidates"] if c not in known]
        return columns

    def saved_rules(self) -> list[engine.Rule]:
        return [rule.as_engine_rule() for rule in self.scoped(Rule)]


def explained(item: dict) -> dict:
    """Return a served item with model_score, model_position and effects at the top level."""
    extra = item.get("explain") or {}
    return {**item, "model_score": item.get("model_score", extra.get("model_score")),
            "model_position": item.get("model_position", extra.get("model_position")),
            "effects": item.get("effects", extra.get("effects", []))}


def preview_columns(before, after) -> dict:
    before_items = [explained(i) for i in before.items]
    position = {i["item_id"]: i["position"] for i in before_items}
    after_items = []
    for item in map(explained, after.items):
        was = position.get(item["item_id"])
        after_items.append({**item, "was": was, "moved": (was - item["position"]) if was else None})
    return {"before": before_items, "after": after_items, "removed": after.removed,
            "not_applied": after.not_applied, "strategy": after.strategy, "version": after.version, "unknown": []}


class RuleListView(PreviewMixin, TenantViewMixin, ListView):
    model = Rule
    template_name = "ui/rules/list.html"
    section = "rules"

    def get_context_data(self, **kwargs) -> dict:
        form = PreviewForm(self.request.GET or None, prefix="p")
        preview = None
        if form.is_filled and form.is_valid():
            preview = self.run_preview(form, self.saved_rules())
        now = datetime.now(dt_timezone.utc)
        rows = [{"rule": rule, "live": rule.as_engine_rule().is_live(now), "summary": summarize(rule)}
                for rule in self.object_list]
        return super().get_context_data(rows=rows, preview_form=form, preview=preview, **kwargs)


def summarize(rule: Rule) -> str:
    """Return a rule's params as one readable line."""
    params = rule.params if isinstance(rule.params, dict) else {}
    if "when" in params and isinstance(params["when"], dict):
        text = engine.describe(params["when"])
        return f"{text}, weight {params['weight']:g}" if "weight" in params else text
    return ", ".join(f"{key} {value}" for key, value in params.items())


class RuleFormMixin(PreviewMixin):
    """Create and edit share the form, the examples beside it and the draft preview."""

    model = Rule
    form_class = RuleForm
    template_name = "ui/rules/form.html"
    manage_required = True
    section = "rules"

    def get_form_kwargs(self) -> dict:
        return {**super().get_form_kwargs(), "tenant": self.tenant}

    def get_context_data(self, **kwargs) -> dict:
        kwargs.setdefault("preview_form", PreviewForm(prefix="p"))
        vocabulary = rule_builder.vocabulary(self.tenant)
        return super().get_context_data(examples=rule_builder.examples(vocabulary), schema=params_schema(),
                                        vocabulary=vocabulary, **kwargs)

    def post(self, request, *args, **kwargs):
        if "preview" not in request.POST:
            return super().post(request, *args, **kwargs)
        # Preview the unsaved draft: the tenant's saved rules with this one added or replaced.
        self.object = self.object_or_none()
        form = self.get_form()
        preview_form = PreviewForm(request.POST, prefix="p")
        preview = None
        if form.is_valid() and preview_form.is_valid():
            draft = dataclasses.replace(form.instance.as_engine_rule(), id=form.instance.pk or "draft")
            rules = [r for r in self.saved_rules() if r.id != form.instance.pk] + [draft]
            preview = self.run_preview(preview_form, rules)
        warnings = rule_builder.warnings(self.tenant, form.instance, preview) if form.is_valid() else []
        return self.render_to_response(self.get_context_data(form=form, preview_form=preview_form, preview=preview,
                                                             previewed=True, warnings=warnings))

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, f"Saved rule {form.instance.name!r}.")
        return response

    def get_success_url(self) -> str:
        return reverse("ui:rules", kwargs={"tenant_slug": self.tenant.slug})


class RuleCreateView(RuleFormMixin, TenantViewMixin, CreateView):
    def object_or_none(self):
        return None


class RuleUpdateView(RuleFormMixin, TenantViewMixin, UpdateView):
    def object_or_none(self):
        return self.get_object()


class RuleDeleteView(TenantViewMixin, DeleteView):
    model = Rule
    template_name = "ui/rules/confirm_delete.html"
    manage_required = True
    section = "rules"

    def form_valid(self, form):
        name = self.object.name
        response = super().form_valid(form)
        messages.success(self.request, f"Deleted rule {name!r}.")
        return response

    def get_success_url(self) -> str:
        return reverse("ui:rules", kwargs={"tenant_slug": self.tenant.slug})


class RuleToggleView(TenantViewMixin, View):
    """Enable or disable a rule; enabling re-validates it, so a rule that cannot apply stays off."""

    def post(self, request, tenant_slug, pk):
        rule = self.get_scoped_or_404(Rule, pk=pk)
        rule.enabled = not rule.enabled
        try:
            rule.full_clean()
        except ValidationError as exc:
            messages.error(request, f"Rule {rule.name!r} cannot apply, so it stays disabled: {'; '.join(exc.messages)}")
            return redirect("ui:rules", tenant_slug=self.tenant.slug)
        rule.save(update_fields=["enabled", "params", "updated_at"])
        messages.success(request, f"Rule {rule.name!r} {'enabled' if rule.enabled else 'disabled'}.")
        return redirect("ui:rules", tenant_slug=self.tenant.slug)


class RuleMoveView(TenantViewMixin, View):
    """Move a rule one place up or down the priority order (higher priority applies first)."""

    def post(self, request, tenant_slug, pk):
        rule = self.get_scoped_or_404(Rule, pk=pk)
        with transaction.atomic():
            ordered = list(self.scoped(Rule).select_for_update().order_by("-priority", "id"))
            index = next(i for i, r in enumerate(ordered) if r.pk == rule.pk)
            other = index - 1 if request.POST.get("direction") == "up" else index + 1
            if 0 <= other < len(ordered):
                swap_priorities(ordered, index, other)
        return redirect("ui:rules", tenant_slug=self.tenant.slug)


def swap_priorities(ordered: list[Rule], i: int, j: int) -> None:
    """Swap two neighbours' places; equal priorities are first spread out (10 apart) to make room."""
    before = {rule.pk: rule.priority for rule in ordered}
    if ordered[i].priority == ordered[j].priority:
        for n, rule in enumerate(ordered):
            rule.priority = (len(ordered) - n) * 10
    ordered[i].priority, ordered[j].priority = ordered[j].priority, ordered[i].priority
    for rule in ordered:
        if rule.priority != before[rule.pk]:
            rule.save(update_fields=["priority", "updated_at"])  # save, not bulk_update: serving's cache listens
