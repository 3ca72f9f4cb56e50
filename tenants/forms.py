"""Forms of the tenant web UI that belong to the tenants app."""
from __future__ import annotations

from django import forms

from .models import Scope

SCOPE_HELP = {
    Scope.READ: "read: recommendations, catalogue and events",
    Scope.INGEST: "ingest: send items and events",
    Scope.ADMIN: "admin: everything, including keys, rules and models",
}


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses this key, e.g. 'web shop backend'.")
    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, SCOPE_HELP[scope]) for scope in Scope],
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.READ],
    )
