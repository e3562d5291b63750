"""Django admin for superusers. Writes to users go through `users.services` (channel `admin`),
so they are validated by the metadata rules and audited like every other change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from users import metadata, services
from users.audit import Context
from users.models import (
    AuditChain,
    AuditEvent,
    Channel,
    Connection,
    Identity,
    Membership,
    SearchLeaf,
    Tenant,
    User,
)

# Fields of the admin form that map onto a body of the write path.
_BODY_FIELDS: tuple[str, ...] = (
    *metadata.PROFILE_STRING_FIELDS,
    *metadata.PROFILE_BOOLEAN_FIELDS,
    *metadata.TIERS,
)


def _context(request: HttpRequest) -> Context:
    return Context.for_staff(request, channel=Channel.ADMIN)


class UserAdminForm(forms.ModelForm[User]):
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = User
        fields = ["tenant", "connection", "user_id", *_BODY_FIELDS]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in metadata.PROFILE_STRING_FIELDS:
            field = self.fields[name]
            assert isinstance(field, forms.CharField)
            field.empty_value = None
        if self.instance.pk:
            self.fields["expected_version"].initial = self.instance.version
        if "user_id" in self.fields:  # only on add; read-only afterwards
            self.fields["user_id"].required = False
            self.fields["user_id"].help_text = "Leave empty to generate <provider>|<24 hex>."

    def body(self) -> dict[str, Any]:
        data = self.cleaned_data
        body = {name: data.get(name) for name in _BODY_FIELDS if name in data}
        for tier in metadata.TIERS:
            if body.get(tier) is None:
                body[tier] = {}
        return body

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.errors:
            return cleaned
        tenant: Tenant | None = cleaned.get("tenant") or getattr(self.instance, "tenant", None)
        if tenant is None:
            return cleaned
        current = self.instance.profile() if self.instance.pk else metadata.empty_profile()
        try:
            metadata.apply_update(current, self.body(), tenant.metadata_rules(), mode="replace")
        except metadata.MetadataError as error:
            field = error.path[0] if error.path and error.path[0] in self.fields else None
            self.add_error(str(field) if field else None, error.message)
        if self.instance.pk:
            expected = cleaned.get("expected_version")
            current_version = (
                User.objects.filter(pk=self.instance.pk).values_list("version", flat=True).first()
            )
            if expected is not None and current_version != expected:
                self.add_error(
                    None,
                    f"This user was changed by someone else meanwhile (version {expected} -> "
                    f"{current_version}). Reload the page and apply your change again.",
                )
        return cleaned


class IdentityInline(admin.TabularInline[Identity, User]):
    model = Identity
    extra = 0
    can_delete = False
    readonly_fields = ("connection", "provider", "provider_user_id", "is_social", "profile_data")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(User)
class UserAdmin(admin.ModelAdmin[User]):
    form = UserAdminForm
    list_display = ("user_id", "email", "name", "tenant", "connection", "blocked", "version")
    list_filter = ("tenant", "blocked", "email_verified")
    search_fields = ("user_id", "email", "name")
    list_select_related = ("tenant", "connection")
    readonly_fields = (
        "version",
        "created_at",
        "updated_at",
        "last_login",
        "last_ip",
        "logins_count",
    )
    inlines = [IdentityInline]

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields += ["tenant", "connection", "user_id"]
        return fields

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        body = form.body()
        ctx = _context(request)
        if change:
            saved = services.user_update(
                user=obj,
                body=body,
                by=ctx,
                mode="replace",
                expected_version=form.cleaned_data.get("expected_version"),
            )
        else:
            body = {key: value for key, value in body.items() if value is not None}
            body["connection"] = form.cleaned_data["connection"].name
            if form.cleaned_data.get("user_id"):
                body["user_id"] = form.cleaned_data["user_id"]
            saved = services.user_create(tenant=form.cleaned_data["tenant"], body=body, by=ctx)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # A user's identities and search leaves go with it (through the write path), though
        # they are read-only on their own.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for dependent in (Identity, SearchLeaf):
            perms_needed.discard(str(dependent._meta.verbose_name))
        return deleted, counts, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        services.user_delete(user=obj, by=_context(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        ctx = _context(request)
        for user in queryset:
            services.user_delete(user=user, by=ctx)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ("slug", "name", "plan", "created_at")
    list_filter = ("plan",)
    search_fields = ("slug", "name")

    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        ctx = _context(request)
        if change:
            services.tenant_update(tenant=obj, changed=form.changed_data, by=ctx)
        else:
            created = services.tenant_create(slug=obj.slug, name=obj.name, plan=obj.plan, by=ctx)
            obj.pk = created.pk
            obj.refresh_from_db()


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin[Connection]):
    list_display = ("name", "tenant", "strategy")
    list_filter = ("strategy", "tenant")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("staff", "tenant", "role")
    list_filter = ("role", "tenant")

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        saved = services.membership_set(
            staff=obj.staff, tenant=obj.tenant, role=obj.role, by=_context(request)
        )
        obj.pk = saved.pk


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "tenant", "created_at", "action", "actor", "channel", "target_user_id")
    list_filter = ("tenant", "action", "channel", "actor_kind")
    search_fields = ("target_user_id", "actor_label", "request_id")


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("provider", "provider_user_id", "user", "connection", "is_social")


@admin.register(AuditChain)
class AuditChainAdmin(ReadOnlyAdmin):
    list_display = ("tenant", "last_seq", "last_hash")


@admin.register(SearchLeaf)
class SearchLeafAdmin(ReadOnlyAdmin):
    """Derived search data, rewritten by the write path; shown for troubleshooting."""

    list_display = ("user", "tier", "path", "kind", "text", "number", "moment", "first")
    list_filter = ("tier", "kind")
    list_select_related = ("user",)
