from django.contrib.auth.forms import UserCreationForm


class SignupForm(UserCreationForm):
    """Username and password; Django's validators judge the password."""

    class Meta(UserCreationForm.Meta):
        fields = ("username",)
