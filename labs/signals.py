"""What the lab runner tells the rest of the site, without knowing who listens.

``run_finished`` is sent with ``run`` when a run ends as succeeded: a
predict-then-measure question scored against this lab may now have its measurement
(courseware/quizzes/scores.py), so the LTI app re-sends those lessons' scores.
"""

from django.dispatch import Signal

run_finished = Signal()
