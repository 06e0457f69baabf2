"""Django forms generated from a lab's declared parameters (the bounds live there)."""

from __future__ import annotations

from django import forms

from .experiments.base import Lab, ParamError


def lab_form(lab: Lab, data=None) -> forms.Form:
    fields = {}
    for param in lab.params:
        if param.is_switch:
            # A checkbox: unticked sends nothing, which clean() turns into 0.
            fields[param.name] = forms.BooleanField(
                label=param.label,
                initial=bool(param.default),
                help_text=param.help,
                required=False,
            )
            continue
        unit = f" ({param.unit})" if param.unit else ""
        field_class = forms.IntegerField if param.kind is int else forms.FloatField
        fields[param.name] = field_class(
            label=f"{param.label}{unit}",
            initial=param.default,
            help_text=param.help,
            required=True,
            widget=forms.NumberInput(
                attrs={"min": param.minimum, "max": param.upper(), "inputmode": "numeric"}
            ),
        )

    def clean(form):
        cleaned = super(form.__class__, form).clean()
        for param in lab.params:
            if param.is_switch and param.name not in form.errors:
                cleaned[param.name] = int(bool(cleaned.get(param.name)))
            if param.name in cleaned and param.name not in form.errors:
                try:
                    cleaned[param.name] = param.clean(cleaned[param.name])
                except ParamError as exc:
                    form.add_error(param.name, str(exc))
        return cleaned

    form_class = type(
        f"{lab.slug.title().replace('-', '')}Form", (forms.Form,), {**fields, "clean": clean}
    )
    return form_class(data)
