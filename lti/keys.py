"""Our signing key: generated once, kept in the database (django-lti's ``Key``), never
in the repository. Platforms fetch its public half from our JWKS URL, so a rotation
(`manage.py rotate_keys`, django-lti's command) needs nothing done on their side."""

from __future__ import annotations

from django.db import transaction
from lti_tool.models import Key


def ensure_signing_key() -> Key:
    """The newest active key, made on first use. Two processes making one at the same
    moment leave two active keys, both published in the JWKS: harmless."""
    key = Key.objects.active().order_by("-datetime_created", "-pk").first()
    if key is None:
        with transaction.atomic():
            key = Key.objects.generate()
    return key
