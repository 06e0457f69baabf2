from django.urls import path

from . import exercise_views, images_view, views
from .authoring import course_views as author_course_views
from .authoring import exercise_views as author_exercise_views
from .authoring import file_views as author_file_views
from .authoring import quiz_views as author_quiz_views
from .authoring import views as author_views
from .classes import assignment_views
from .classes import views as class_views
from .quizzes import exam_views
from .quizzes import views as quiz_views

app_name = "courseware"

urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/<slug:slug>/", views.lesson_detail, name="lesson"),
    path("lessons/<slug:slug>/done/", views.lesson_mark_done, name="lesson_done"),
    path("lessons/<slug:slug>/images/<str:name>", images_view.lesson_image, name="lesson_image"),
    # Relative image links in quiz text resolve under the quiz page.
    path("lessons/<slug:slug>/quiz/images/<str:name>", images_view.lesson_image),
    path(
        "lessons/<slug:slug>/exercises/<slug:exercise>/",
        exercise_views.exercise_detail,
        name="exercise",
    ),
    path(
        "lessons/<slug:slug>/exercises/<slug:exercise>/<slug:step>/check/",
        exercise_views.exercise_check,
        name="exercise_check",
    ),
    path("teach/", views.teach_overview, name="teach"),
    path("glossary/", views.glossary, name="glossary"),
    path("lessons/<slug:slug>/quiz/", quiz_views.quiz_detail, name="quiz"),
    path(
        "lessons/<slug:slug>/quiz/<slug:qid>/",
        quiz_views.question_submit,
        name="question_submit",
    ),
    path("attempts/", quiz_views.my_attempts, name="my_attempts"),
    path("exam/", exam_views.exam_home, name="exam"),
    path("exam/start/", exam_views.exam_start, name="exam_start"),
    path("exam/<int:sitting_id>/", exam_views.exam_sitting, name="exam_sitting"),
    path("exam/<int:sitting_id>/finish/", exam_views.exam_finish, name="exam_finish"),
    path("exam/<int:sitting_id>/answer/<slug:qid>/", exam_views.exam_answer, name="exam_answer"),
    path("classes/", class_views.class_list, name="classes"),
    path("classes/new/", class_views.class_new, name="class_new"),
    path("classes/join/", class_views.class_join_view, name="class_join"),
    path("classes/<int:class_id>/", class_views.class_detail, name="class_detail"),
    path("classes/<int:class_id>/gradebook.csv", class_views.gradebook_csv, name="gradebook_csv"),
    path(
        "classes/<int:class_id>/assignments/",
        assignment_views.assignment_list,
        name="class_assignments",
    ),
    path(
        "classes/<int:class_id>/assignments/<int:assignment_id>/",
        assignment_views.assignment_edit,
        name="class_assignment_edit",
    ),
    path(
        "classes/<int:class_id>/assignments/<int:assignment_id>/delete/",
        assignment_views.assignment_delete,
        name="class_assignment_delete",
    ),
    path("classes/time-zone/", assignment_views.time_zone, name="time_zone"),
    path("classes/<int:class_id>/analytics/", class_views.class_analytics, name="class_analytics"),
    path(
        "classes/<int:class_id>/students/<int:user_id>/",
        class_views.student_attempts,
        name="class_student",
    ),
    path(
        "classes/<int:class_id>/questions/<slug:qid>/",
        class_views.question_answers,
        name="class_question",
    ),
    # Authoring (instructors only): courseware/authoring/views.py
    path("author/", author_views.outline, name="author_outline"),
    path("author/new/", author_views.lesson_new, name="author_new"),
    path("author/exam/", author_course_views.exam_settings, name="author_exam"),
    path("author/course.zip", author_file_views.course_download, name="author_download"),
    path("author/upload/", author_file_views.course_upload, name="author_upload"),
    path(
        "author/upload/<int:upload_id>/",
        author_file_views.course_upload_review,
        name="author_upload_review",
    ),
    path(
        "author/modules/<int:module_id>/move/", author_views.module_move, name="author_module_move"
    ),
    path("author/modules/new/", author_course_views.module_new, name="author_module_new"),
    path(
        "author/modules/<int:module_id>/",
        author_course_views.module_edit,
        name="author_module_edit",
    ),
    path(
        "author/<slug:slug>/module/",
        author_course_views.lesson_to_module,
        name="author_lesson_module",
    ),
    path("author/<slug:slug>/", author_views.lesson_edit, name="author_edit"),
    path("author/<slug:slug>/preview/", author_views.lesson_preview, name="author_preview"),
    path("author/<slug:slug>/publish/", author_views.lesson_publish, name="author_publish"),
    path("author/<slug:slug>/history/", author_views.lesson_history, name="author_history"),
    path("author/<slug:slug>/diff/", author_views.lesson_diff, name="author_diff"),
    path("author/<slug:slug>/quiz/", author_quiz_views.quiz_edit, name="author_quiz"),
    path(
        "author/<slug:slug>/exercises/new/",
        author_exercise_views.exercise_edit,
        name="author_exercise_new",
    ),
    path(
        "author/<slug:slug>/exercises/<slug:exercise>/",
        author_exercise_views.exercise_edit,
        name="author_exercise",
    ),
    path(
        "author/<slug:slug>/restore/<int:number>/",
        author_views.revision_restore,
        name="author_restore",
    ),
    path("author/<slug:slug>/move/", author_views.lesson_move, name="author_move"),
    path(
        "author/<slug:slug>/visibility/", author_views.lesson_visibility, name="author_visibility"
    ),
    path("author/<slug:slug>/trash/", author_views.lesson_trash, name="author_trash"),
    path("author/<slug:slug>/images/", author_file_views.image_upload, name="author_image_upload"),
    path("author/<slug:slug>/images/<str:name>", author_file_views.image_show, name="author_image"),
    path(
        "author/<slug:slug>/images/<str:name>/delete/",
        author_file_views.image_delete,
        name="author_image_delete",
    ),
]
