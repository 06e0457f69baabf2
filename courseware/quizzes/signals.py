"""What the quiz code tells the rest of the site, without knowing who listens.

``quiz_answered`` is sent once an attempt is committed, with ``user_id`` and
``lesson_id``: that student's quiz score in that lesson may have changed. The LTI app
(lti/receivers.py) sends the new score to the student's LMS; nothing here waits for it.
"""

from django.dispatch import Signal

quiz_answered = Signal()
