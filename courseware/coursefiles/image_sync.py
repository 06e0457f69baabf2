"""Lesson images in ``import_course`` (a hook registered in sync.py).

The images were checked by ``read_course`` before the import began. An image that is
in the database but no longer in the folder is kept: an instructor may have uploaded
it in the browser, and a lesson revision may still show it.
"""

from __future__ import annotations

import hashlib

from ..models import Lesson, LessonImage
from .lesson_files import LessonSpec


def image_import(*, lesson: Lesson, spec: LessonSpec) -> str | None:
    changed = False
    existing = {image.name: image for image in lesson.images.all()}
    for name, data in spec.images.items():
        digest = hashlib.sha256(data).hexdigest()
        image = existing.get(name)
        if image is None:
            LessonImage.objects.create(lesson=lesson, name=name, data=data, sha256=digest)
            changed = True
        elif image.sha256 != digest:
            LessonImage.objects.filter(pk=image.pk).update(data=data, sha256=digest)
            changed = True
    return "updated" if changed else None
