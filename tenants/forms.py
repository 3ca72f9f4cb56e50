"""Forms of the tenant web UI that belong to the tenants app."""
from __future__ import annotations

from django import forms

from .models import Role, Scope

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


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER,
                             help_text="Viewers read; admins also change the catalogue, rules, models and keys; "
                                       "owners also manage the team.")
    note = forms.CharField(max_length=200, required=False, label="For (optional)",
                           help_text="A reminder of whom the link is for, e.g. their e-mail address.")


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
