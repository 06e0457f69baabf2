"""Django's database sessions and session users, with the two queries every signed-in
page makes prepared.

Reading the session and then its user are the first two queries of every page a
signed-in student opens, and the ORM spent several times as long building each as
SQLite took to answer it (issue 17: lesson pages). Here both are compiled once per
process (virtlab/prepared.py) and only run after. Everything else is Django's own:

- ``SessionStore`` (``SESSION_ENGINE``) is the ``db`` backend with its read prepared;
  saving, creating, cycling the key on sign-in, flushing on sign-out and expiry are
  unchanged, so the table, the cookie and what a session holds are the same.
- ``SessionUserBackend`` (last in ``AUTHENTICATION_BACKENDS``) only loads a session's
  user, with ``ModelBackend``'s rule (an inactive account has none); it never signs
  anyone in, so sign-in runs exactly as before. A session records the backend that
  signed it in (``ModelBackend``, by password or by a launch naming it), and Django
  asks that backend for the user on every page: when this store reads such a session
  it names ``SessionUserBackend`` instead, in memory only. Django's check of the
  session against the user's password hash still runs on every page, as before.
"""

from __future__ import annotations

from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth.backends import BaseBackend
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db import models, router
from django.utils import timezone

from .prepared import Param, Prepared

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
SESSION_USER_BACKEND = "virtlab.sessions.SessionUserBackend"

# The same question Django's backend asks: the row of this key, unless it has expired.
_UNEXPIRED = Prepared(
    lambda _: Session.objects.filter(
        session_key=Param("key"), expire_date__gt=Param("now", models.DateTimeField())
    ).values_list("session_data")
)


class SessionStore(DatabaseSessionStore):
    def load(self) -> dict:
        rows = _UNEXPIRED.rows(
            key=self.session_key, now=timezone.now(), using=router.db_for_read(Session)
        )
        if not rows:
            # As Django's: an unknown or expired key is dropped, so saving the session
            # makes a new one rather than reviving it.
            self._session_key = None
            return {}
        data = self.decode(rows[0][0])
        if data.get(BACKEND_SESSION_KEY) == MODEL_BACKEND:
            # Not marked modified: the row keeps what sign-in wrote.
            data[BACKEND_SESSION_KEY] = SESSION_USER_BACKEND
        return data


def _user_fields() -> list[str]:
    return [field.attname for field in get_user_model()._meta.concrete_fields]


_USER = Prepared(
    lambda _: get_user_model()._default_manager.filter(pk=Param("id")).values_list(*_user_fields())
)


class SessionUserBackend(BaseBackend):
    """``ModelBackend.get_user`` with its query prepared; signs no one in."""

    def get_user(self, user_id):
        model = get_user_model()
        rows = _USER.rows(id=user_id, using=router.db_for_read(model))
        if not rows:
            return None
        user = model.from_db(router.db_for_read(model), _user_fields(), rows[0])
        # ModelBackend.user_can_authenticate: an account made inactive has no session.
        return user if getattr(user, "is_active", True) else None
