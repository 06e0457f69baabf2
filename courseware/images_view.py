"""Serving a lesson's images (``![…](images/name.png)`` in its Markdown)."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.http import quote_etag
from django.views.decorators.http import require_GET

from .coursefiles.images import content_type
from .models import LessonImage
from .outline import visible_lesson

# Opened on its own, an SVG is a document: forbid it everything but drawing, even
# though the upload check already refused scripts.
IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def image_response(request, image: LessonImage) -> HttpResponse:
    etag = quote_etag(image.sha256)
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(bytes(image.data), content_type=content_type(image.name))
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = IMAGE_CSP
    return response


@require_GET
def lesson_image(request, slug: str, name: str):
    """Students see the images of published lessons; instructors of every lesson."""
    lesson = visible_lesson(request, slug)
    image = LessonImage.objects.filter(lesson=lesson, name=name).first()
    if image is None:
        raise Http404("This lesson has no image by that name.")
    return image_response(request, image)


def get_image(lesson, name: str) -> LessonImage:
    return get_object_or_404(LessonImage, lesson=lesson, name=name)
