"""Console forms. Validation here is for messages on the field; the write path re-checks."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from users import metadata
from users.models import Tenant


class MetadataForm(forms.Form):
    """One metadata tier edited as a whole JSON document."""

    document = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, tier: str, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tier = tier
        self.tenant = tenant

    def clean_document(self) -> dict[str, Any]:
        text = self.cleaned_data["document"]
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                f"This is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None
        try:
            metadata.validate_tier(self.tier, document, self.tenant.metadata_rules())
        except metadata.MetadataError as error:
            raise forms.ValidationError(error.message) from None
        return dict(document)


class DeleteKeyForm(forms.Form):
    key = forms.CharField(max_length=500)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


ACTION_CHOICES = [
    ("", "Any action"),
    *[
        (action, action)
        for action in (
            "user.create",
            "user.update",
            "user.block",
            "user.unblock",
            "user.delete",
            "user.revert",
            "user.bulk_create",
            "tenant.create",
            "tenant.update",
            "membership.set",
        )
    ],
]


class AuditFilterForm(forms.Form):
    """Filters of the audit log; every field optional."""

    actor = forms.CharField(required=False, max_length=255, label="Actor")
    action = forms.ChoiceField(required=False, choices=ACTION_CHOICES)
    channel = forms.ChoiceField(required=False, choices=[("", "Any channel")])
    user = forms.CharField(required=False, max_length=255, label="User (user_id)")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from users.models import Channel

        super().__init__(*args, **kwargs)
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = [("", "Any channel"), *Channel.choices]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return cleaned
