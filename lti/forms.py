"""Registering a platform: django-lti's registration and deployments, and the origins
that may frame virtlab (lti/frames.py), in one form."""

from __future__ import annotations

from django import forms
from django.core.validators import URLValidator
from django.db import transaction
from lti_tool.models import LtiDeployment, LtiRegistration

from .frames import origin_of
from .models import PlatformFrames

_url = URLValidator(schemes=["https", "http"])


class RegistrationForm(forms.Form):
    name = forms.CharField(max_length=255, help_text="Shown to you only, e.g. “School Moodle”.")
    issuer = forms.CharField(
        max_length=255,
        help_text="The platform ID (Moodle: its site URL; Canvas: https://canvas.instructure.com).",
    )
    client_id = forms.CharField(label="Client ID", max_length=255)
    deployment_ids = forms.CharField(
        label="Deployment IDs",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line. Launches from a deployment not listed here are refused.",
        error_messages={"required": "Give at least one deployment ID."},
    )
    keyset_url = forms.CharField(
        label="Public keyset (JWKS) URL", max_length=200, validators=[_url]
    )
    auth_url = forms.CharField(
        label="Authentication request URL", max_length=200, validators=[_url]
    )
    token_url = forms.CharField(label="Access token URL", max_length=200, validators=[_url])
    audience = forms.CharField(
        label="Token audience",
        max_length=255,
        required=False,
        help_text="Only if the platform asks for one different from the access token URL.",
    )
    extra_origins = forms.CharField(
        label="Other origins that show virtlab in a frame",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line, e.g. https://school.instructure.com. The issuer's and the "
        "authentication URL's origins are always allowed.",
    )
    is_active = forms.BooleanField(label="Active (accept launches)", required=False, initial=True)

    def __init__(self, *args, registration: LtiRegistration | None = None, **kwargs):
        self.registration = registration
        bound = bool(args and args[0] is not None) or kwargs.get("data") is not None
        if registration is not None and not bound:
            frames = PlatformFrames.objects.filter(registration=registration).first()
            kwargs["initial"] = {
                "name": registration.name,
                "issuer": registration.issuer,
                "client_id": registration.client_id,
                "deployment_ids": "\n".join(
                    registration.deployments.filter(is_active=True)
                    .order_by("pk")
                    .values_list("deployment_id", flat=True)
                ),
                "keyset_url": registration.keyset_url,
                "auth_url": registration.auth_url,
                "token_url": registration.token_url,
                "audience": registration.audience,
                "extra_origins": frames.extra_origins if frames else "",
                "is_active": registration.is_active,
            }
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.TextInput | forms.Textarea):
                field.widget.attrs.setdefault("autocomplete", "off")
                if name.endswith("url"):
                    field.widget.attrs["inputmode"] = "url"

    def clean_issuer(self) -> str:
        return self.cleaned_data["issuer"].strip()

    def clean_client_id(self) -> str:
        return self.cleaned_data["client_id"].strip()

    def clean_deployment_ids(self) -> list[str]:
        ids = [line.strip() for line in self.cleaned_data["deployment_ids"].splitlines()]
        ids = list(dict.fromkeys(i for i in ids if i))
        if not ids:
            raise forms.ValidationError("Give at least one deployment ID.")
        if any(len(i) > 255 for i in ids):
            raise forms.ValidationError("A deployment ID is at most 255 characters.")
        return ids

    def clean_extra_origins(self) -> str:
        origins = []
        for line in self.cleaned_data["extra_origins"].split():
            origin = origin_of(line)
            if origin is None:
                raise forms.ValidationError(f"“{line}” is not an http(s) origin.")
            origins.append(origin)
        return "\n".join(dict.fromkeys(origins))

    def clean(self):
        data = super().clean()
        issuer, client_id = data.get("issuer"), data.get("client_id")
        if issuer and client_id:
            same = LtiRegistration.objects.filter(issuer=issuer, client_id=client_id)
            if self.registration is not None:
                same = same.exclude(pk=self.registration.pk)
            if same.exists():
                raise forms.ValidationError(
                    "A platform with this issuer and client ID is already registered."
                )
        return data

    @transaction.atomic
    def save(self) -> LtiRegistration:
        data = self.cleaned_data
        registration = self.registration or LtiRegistration()
        for name in ("name", "issuer", "client_id", "keyset_url", "auth_url", "token_url"):
            setattr(registration, name, data[name])
        registration.audience = data["audience"].strip()
        registration.is_active = data["is_active"]
        registration.save()
        wanted = data["deployment_ids"]
        for deployment_id in wanted:
            LtiDeployment.objects.update_or_create(
                registration=registration,
                deployment_id=deployment_id,
                defaults={"is_active": True},
            )
        # Unlisted ones are switched off, not deleted: their classes keep their history.
        registration.deployments.exclude(deployment_id__in=wanted).update(is_active=False)
        PlatformFrames.objects.update_or_create(
            registration=registration, defaults={"extra_origins": data["extra_origins"]}
        )
        return registration
