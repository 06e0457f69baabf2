from django import forms
from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password; Django's validators judge the password."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class ClassroomForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        label="Class name",
        help_text="For example “Virtualization, spring term, group B”.",
    )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise forms.ValidationError("Give the class a name.")
        return name


class JoinClassForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Join code",
        help_text="The code your instructor gave you, for example K7QP-M2XD.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
