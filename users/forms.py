"""Console forms. Validation here is for messages on the field; the write path re-checks."""

from __future__ import annotations

from typing import Any

from django import forms

from users import exports, metadata
from users.models import (
    DEFAULT_GRANTS,
    AuditAction,
    Channel,
    GrantType,
    Scope,
    SignInOutcome,
    Tenant,
)
from users.models.applications import (
    ID_TOKEN_LIFETIME_DEFAULT,
    ID_TOKEN_LIFETIME_MAX,
    ID_TOKEN_LIFETIME_MIN,
    url_problem,
)


class MetadataForm(forms.Form):
    """One metadata tier edited as a whole JSON document."""

    document = forms.CharField(widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}))
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    # The tier as the operator was shown it: a save applies what they changed from it, key by
    # key, to the tier as it is now. Without it (a client that sends only a document and a
    # version) the document replaces the tier if the version still holds.
    base = forms.CharField(widget=forms.HiddenInput, required=False, strip=False)

    def __init__(self, *args: Any, tier: str, tenant: Tenant, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tier = tier
        self.tenant = tenant

    def clean_document(self) -> dict[str, Any]:
        text = self.cleaned_data["document"]
        try:
            document = metadata.parse_json(text)
            metadata.validate_tier(self.tier, document, self.tenant.metadata_rules())
        except metadata.MetadataError as error:
            raise forms.ValidationError(error.message) from None
        return dict(document)

    def clean_base(self) -> dict[str, Any] | None:
        return _shown_object(self.cleaned_data.get("base") or "")


def _shown_object(text: str) -> dict[str, Any] | None:
    """A hidden field holding what the page showed (a JSON object), or None if absent."""
    if not text:
        return None
    try:
        shown = metadata.parse_json(text)
    except metadata.MetadataError:
        shown = None
    if not isinstance(shown, dict):
        raise forms.ValidationError("The page is out of date; reload it and edit again.")
    return shown


class DeleteKeyForm(forms.Form):
    key = forms.CharField(max_length=500)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)
    # The key's value as the page showed it ({"value": ...}); see MetadataForm.base.
    shown = forms.CharField(widget=forms.HiddenInput, required=False, strip=False)

    def clean_shown(self) -> dict[str, Any] | None:
        return _shown_object(self.cleaned_data.get("shown") or "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("shown") is None and cleaned.get("version") is None:
            raise forms.ValidationError("The page is out of date; reload it and try again.")
        return cleaned


ACTION_CHOICES = [("", "Any action"), *[(action, action) for action in AuditAction.values]]


class DateRangeForm(forms.Form):
    """Optional From/To dates, From on or before To: what the log filters share."""

    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return cleaned


class AuditFilterForm(DateRangeForm):
    """Filters of the audit log; every field optional."""

    actor = forms.CharField(required=False, max_length=255, label="Actor")
    action = forms.ChoiceField(required=False, choices=ACTION_CHOICES)
    channel = forms.ChoiceField(required=False, choices=[("", "Any channel"), *Channel.choices])
    user = forms.CharField(required=False, max_length=255, label="User (user_id)")
    field_order = ["actor", "action", "channel", "user", "since", "until"]


class SignInFilterForm(DateRangeForm):
    """Filters of the tenant's login log; every field optional."""

    outcome = forms.ChoiceField(
        required=False, label="Outcome", choices=[("", "Any outcome"), *SignInOutcome.choices]
    )
    user = forms.CharField(required=False, max_length=320, label="User (email or user_id)")
    field_order = ["outcome", "user", "since", "until"]


class BulkEditForm(forms.Form):
    """Set or remove one first-level key of a tier on every user a query matches."""

    q = forms.CharField(required=False, label="Users matching", max_length=4000)
    tier = forms.ChoiceField(choices=[(tier, tier) for tier in metadata.TIERS])
    key = forms.CharField(max_length=500)
    action = forms.ChoiceField(choices=[("set", "Set to"), ("remove", "Remove the key")])
    value = forms.CharField(
        required=False, label="Value (JSON)", help_text='A JSON value: "pro", 3, true, {"a": 1}'
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("action") == "set":
            try:
                cleaned["parsed_value"] = metadata.parse_json(cleaned.get("value") or "")
            except metadata.MetadataError as error:
                self.add_error(
                    "value", f'{error.message} Enter a JSON value (quote strings: "pro").'
                )
            else:
                if cleaned["parsed_value"] is None:
                    self.add_error("value", "null would remove the key; choose “Remove the key”.")
        return cleaned


class ImportForm(forms.Form):
    """Upload a file of users to import (Auth0 bulk-import JSON, or the export's CSV)."""

    file = forms.FileField(
        label="File",
        help_text="Auth0's bulk-import JSON (an array) or CSV with the export's columns",
    )
    format = forms.ChoiceField(
        choices=[("", "By the file's extension"), ("json", "JSON"), ("csv", "CSV")],
        required=False,
    )
    upsert = forms.BooleanField(required=False, label="Update users that exist (matched by email)")
    metadata_mode = forms.ChoiceField(
        label="Metadata of updated users",
        choices=[
            ("replace", "Replace each tier (Auth0's behaviour)"),
            ("merge", "Merge at the first level"),
        ],
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is not None and not cleaned.get("format"):
            extension = (upload.name or "").rsplit(".", 1)[-1].lower()
            if extension not in ("json", "csv"):
                self.add_error("format", "Choose JSON or CSV: the file name does not say.")
            else:
                cleaned["format"] = extension
        return cleaned


class ExportForm(forms.Form):
    """What to export: the users a query matches, with a preset of columns, the metadata
    keys the tenant uses, and any other columns (`name:export_as`)."""

    q = forms.CharField(required=False, label="Users matching", max_length=4000)
    preset = forms.ChoiceField(
        label="Columns", choices=[(key, label) for key, (label, _) in exports.PRESETS.items()]
    )
    keys = forms.MultipleChoiceField(
        required=False,
        label="Metadata keys in use",
        widget=forms.CheckboxSelectMultiple,
    )
    extra = forms.CharField(
        required=False,
        label="More columns",
        max_length=4000,
        help_text="Comma-separated, NAME or NAME:HEADER, e.g. user_metadata.consent.given:Consent",
    )
    format = forms.ChoiceField(choices=[("csv", "CSV"), ("ndjson", "NDJSON (one user a line)")])
    gzip = forms.BooleanField(required=False, label="Gzip the file")
    background = forms.BooleanField(
        required=False,
        label="Run in the background (automatic above 10,000 users)",
    )

    def __init__(self, *args: Any, keys_in_use: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keys = self.fields["keys"]
        assert isinstance(keys, forms.MultipleChoiceField)
        keys.choices = [(key, key) for key in keys_in_use]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        preset = cleaned.get("preset")
        if preset is None:
            return cleaned
        names = [*exports.PRESETS[preset][1], *cleaned.get("keys", [])]
        extra = [part for part in (cleaned.get("extra") or "").split(",") if part.strip()]
        chosen = [name for name in names if name not in extra] + extra
        try:
            exports.parse_columns(chosen)
        except exports.ExportError as error:
            self.add_error("extra" if extra else "keys", error.message)
        cleaned["columns"] = ",".join(dict.fromkeys(chosen))
        return cleaned


class ApiClientForm(forms.Form):
    """A new Management API client: its name and scopes."""

    name = forms.CharField(max_length=100, help_text="Who uses it, e.g. billing-service")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ_USERS]
    )


class UrlListField(forms.CharField):
    """URLs, one a line (commas also separate them); each an absolute https URL, or http on
    localhost/127.0.0.1."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [url for url in text.replace(",", "\n").split() if url]

    def validate(self, value: Any) -> None:
        super().validate(value)
        problems = [problem for url in value if (problem := url_problem(url))]
        if problems:
            raise forms.ValidationError(problems)


class ApplicationForm(forms.Form):
    """An application's settings (Auth0's client): what the edit page changes."""

    name = forms.CharField(max_length=100, help_text="What end users sign in to, e.g. web-shop")
    callback_urls = UrlListField(
        required=False,
        label="Allowed callback URLs",
        help_text="One a line: https://, or http:// only on localhost and 127.0.0.1.",
    )
    logout_urls = UrlListField(
        required=False, label="Allowed logout URLs", help_text="One a line, as above."
    )
    grant_types = forms.MultipleChoiceField(
        choices=GrantType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=DEFAULT_GRANTS,
        help_text="The password grants are off unless ticked: prefer the authorization code.",
    )
    id_token_lifetime = forms.IntegerField(
        min_value=ID_TOKEN_LIFETIME_MIN,
        max_value=ID_TOKEN_LIFETIME_MAX,
        initial=ID_TOKEN_LIFETIME_DEFAULT,
        label="ID token lifetime (seconds)",
    )


class NewApplicationForm(ApplicationForm):
    public = forms.BooleanField(
        required=False,
        label="Public application (a single-page or native app): no client secret",
    )
