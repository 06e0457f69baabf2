"""Authoring: the course as a zip (download, review, apply) and lessons' images.

Instructors only, like every authoring view (``instructor_required``); changes are
POSTs with CSRF.
"""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from virtlab.roles import instructor_required

from ..coursefiles.images import MAX_IMAGE_BYTES, image_problem
from ..images_view import get_image, image_response
from ..models import CourseUpload, LessonImage
from . import coursezip, revisions
from .views import lesson_or_404

# --- The course as a zip --------------------------------------------------------------


@instructor_required
def course_download(request):
    drafts = request.GET.get("drafts") == "1"
    data = coursezip.course_zip(drafts=drafts)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    name = f"virtlab-course-{stamp}{'-with-drafts' if drafts else ''}.zip"
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    revisions.record(None, request.user, "downloaded the course", name)
    return response


@instructor_required
def course_upload(request):
    problems: list[str] = []
    if request.method == "POST":
        upload = request.FILES.get("zip")
        if upload is None:
            problems.append("Choose a zip file to upload.")
        elif upload.size > coursezip.MAX_UPLOAD_BYTES:
            problems.append(
                f"The file is {upload.size / 2**20:.1f} MiB; at most "
                f"{coursezip.MAX_UPLOAD_BYTES // 2**20} MiB is accepted."
            )
        else:
            data = upload.read()
            stored = CourseUpload.objects.create(
                uploaded_by=request.user,
                name=upload.name[:200],
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
            )
            return redirect("courseware:author_upload_review", upload_id=stored.pk)
    return render(
        request,
        "courseware/authoring/upload.html",
        {"problems": problems, "limits": coursezip},
        status=422 if problems else 200,
    )


@instructor_required
def course_upload_review(request, upload_id: int):
    """What the upload would change, then (on POST) apply it in one transaction."""
    stored = get_object_or_404(CourseUpload, pk=upload_id, uploaded_by=request.user)
    data = bytes(stored.data)
    if request.method == "POST" and stored.applied_at is None:
        review = coursezip.preview(data)
        if review.can_apply:
            report = coursezip.apply(data, by=request.user)
            CourseUpload.objects.filter(pk=stored.pk).update(applied_at=timezone.now())
            revisions.record(None, request.user, "imported a course zip", stored.name)
            messages.success(request, f"Imported {stored.name}: {report.summary()}.")
            return redirect("courseware:author_outline")
    else:
        review = coursezip.preview(data)
    return render(
        request,
        "courseware/authoring/upload_review.html",
        {"upload": stored, "review": review},
        status=200 if review.can_apply or stored.applied_at else 422,
    )


# --- Lesson images --------------------------------------------------------------------


@instructor_required
@require_POST
def image_upload(request, slug: str):
    lesson = lesson_or_404(slug)
    upload = request.FILES.get("image")
    back = reverse("courseware:author_edit", args=[slug]) + "#images"
    if upload is None:
        messages.error(request, "Choose an image file to upload.")
        return redirect(back)
    name = (request.POST.get("name") or upload.name).strip().lower()
    if upload.size > MAX_IMAGE_BYTES:
        messages.error(request, f"{name}: larger than {MAX_IMAGE_BYTES // 2**20} MiB; not saved.")
        return redirect(back)
    data = upload.read()
    if problem := image_problem(name, data):
        messages.error(request, f"{name}: {problem}. Nothing was saved.")
        return redirect(back)
    existing = LessonImage.objects.filter(lesson=lesson, name=name).first()
    if existing and request.POST.get("replace") != "1":
        messages.error(
            request,
            f"This lesson already has an image named {name}. Tick “Replace” to overwrite it, "
            "or give the new one another name.",
        )
        return redirect(back)
    digest = hashlib.sha256(data).hexdigest()
    LessonImage.objects.update_or_create(
        lesson=lesson,
        name=name,
        defaults={
            "data": data,
            "sha256": digest,
            "uploaded_by": request.user,
            "updated_at": timezone.now(),
        },
    )
    revisions.record(lesson, request.user, "replaced image" if existing else "added image", name)
    messages.success(request, f"Saved {name}. Show it with: ![what it shows](images/{name})")
    return redirect(back)


@instructor_required
def image_show(request, slug: str, name: str):
    """The editor's preview resolves ``images/…`` here, drafts included."""
    return image_response(request, get_image(lesson_or_404(slug), name))


@instructor_required
@require_POST
def image_delete(request, slug: str, name: str):
    lesson = lesson_or_404(slug)
    image = get_image(lesson, name)
    image.delete()
    revisions.record(lesson, request.user, "deleted image", name)
    messages.success(
        request, f"Deleted {name}. Lessons that still show it will show nothing there."
    )
    return redirect(reverse("courseware:author_edit", args=[slug]) + "#images")
