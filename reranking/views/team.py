"""The team page (owners invite by one-time link, change roles, remove) and the invite link's page."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.generic import TemplateView

from tenants import team
from tenants.forms import InviteForm, RoleForm
from tenants.models import Invite, RawKey, Membership, Role
from tenants.web import TenantViewMixin

NEW_INVITE_SESSION_KEY = "ui:new-invite"


class OwnerRequired:
    """Team changes are for owners (admins manage the shop, not who works on it)."""

    def check_owner(self) -> None:
        if self.membership.role != Role.OWNER:
            raise PermissionDenied("Only the tenant's owners can change the team.")


class TeamView(OwnerRequired, TenantViewMixin, TemplateView):
    """Members and open invites; owners create invites (POST-redirect-GET; the link is shown once)."""

    template_name = "ui/team.html"
    section = "team"

    def get_context_data(self, **kwargs) -> dict:
        members = Membership.objects.filter(tenant=self.tenant).select_related("user").order_by("user__username")
        invites = self.scoped(Invite).filter(accepted_at__isnull=True, revoked_at__isnull=True).order_by("-created_at")
        kwargs.setdefault("form", InviteForm())
        return super().get_context_data(members=members, invites=[i for i in invites if i.is_open],
                                        is_owner=self.membership.role == Role.OWNER, roles=Role.choices, **kwargs)

    @method_decorator(sensitive_variables("token", "created"))
    def get(self, request, *args, **kwargs):
        created = request.session.pop(NEW_INVITE_SESSION_KEY, None)
        context = self.get_context_data()
        if created and created.get("tenant") == self.tenant.pk:
            context["new_link"] = RawKey(request.build_absolute_uri(reverse("ui:invite", args=[created["token"]])))
            context["new_role"] = created["role"]
        response = self.render_to_response(context)
        response["Cache-Control"] = "no-store"
        return response

    @method_decorator(sensitive_variables("token"))
    def post(self, request, *args, **kwargs):
        self.check_owner()
        form = InviteForm(request.POST)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(form=form))
        invite, token = Invite.issue(self.tenant, form.cleaned_data["role"], request.user, form.cleaned_data["note"])
        request.session[NEW_INVITE_SESSION_KEY] = {"tenant": self.tenant.pk, "token": token, "role": invite.role}
        return redirect("ui:team", tenant_slug=self.tenant.slug)


class MemberRoleView(OwnerRequired, TenantViewMixin, View):
    def post(self, request, tenant_slug, pk):
        self.check_owner()
        member = self.get_member(pk)
        form = RoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose owner, admin or viewer.")
        else:
            try:
                team.change_role(member, form.cleaned_data["role"])
            except team.TeamError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, f"{member.user.get_username()} is now {member.get_role_display().lower()}.")
        return redirect("ui:team", tenant_slug=self.tenant.slug)

    def get_member(self, pk: int) -> Membership:
        member = Membership.objects.filter(tenant=self.tenant, pk=pk).select_related("user").first()
        if member is None:
            raise Http404
        return member


class MemberRemoveView(MemberRoleView):
    def post(self, request, tenant_slug, pk):
        self.check_owner()
        member = self.get_member(pk)
        try:
            team.remove_member(member)
        except team.TeamError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Removed {member.user.get_username()} from {self.tenant.name}.")
        if member.user_id == request.user.pk:
            return redirect("ui:home")
        return redirect("ui:team", tenant_slug=self.tenant.slug)


class InviteRevokeView(OwnerRequired, TenantViewMixin, View):
    def post(self, request, tenant_slug, pk):
        self.check_owner()
        invite = self.get_scoped_or_404(Invite, pk=pk)
        Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, "Invite withdrawn: its link no longer works.")
        return redirect("ui:team", tenant_slug=self.tenant.slug)


@method_decorator(sensitive_post_parameters("password1", "password2"), name="dispatch")
@method_decorator(sensitive_variables("token"), name="dispatch")
class AcceptInviteView(View):
    """The invite link: signed in, join with one click; otherwise create an account (or sign in first)."""

    template_name = "registration/invite.html"

    def get(self, request, token):
        invite = Invite.find(token)
        return render(request, self.template_name, self.context(request, invite, UserCreationForm()),
                      status=200 if invite and invite.is_open else 410)

    def post(self, request, token):
        invite = Invite.find(token)
        if invite is None or not invite.is_open:
            return render(request, self.template_name, self.context(request, invite, None), status=410)
        user = request.user
        if not user.is_authenticated:
            form = UserCreationForm(request.POST)
            if not form.is_valid():
                return render(request, self.template_name, self.context(request, invite, form))
            user = form.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        try:
            team.accept_invite(invite, user)
        except team.TeamError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"Welcome to {invite.tenant.name}: you joined as {invite.get_role_display().lower()}.")
        return redirect("ui:dashboard", tenant_slug=invite.tenant.slug)

    def context(self, request, invite, form) -> dict:
        return {"invite": invite if invite and invite.is_open else None, "form": form,
                "login_url": f"{reverse('ui:login')}?next={request.path}"}
