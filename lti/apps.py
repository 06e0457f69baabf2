from django.apps import AppConfig


class LtiConfig(AppConfig):
    """virtlab as an LTI 1.3 tool, on top of django-lti's ``lti_tool`` app (which owns
    registrations, deployments, contexts and keys); docs/lti.md."""

    name = "lti"
    verbose_name = "LTI 1.3"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (connects the score-changed receivers)
