from django.urls import path

from . import views
from .classes import views as class_views
from .quizzes import views as quiz_views

app_name = "courseware"

urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/<slug:slug>/", views.lesson_detail, name="lesson"),
    path("lessons/<slug:slug>/done/", views.lesson_mark_done, name="lesson_done"),
    path("teach/", views.teach_overview, name="teach"),
    path("glossary/", views.glossary, name="glossary"),
    path("lessons/<slug:slug>/quiz/", quiz_views.quiz_detail, name="quiz"),
    path(
        "lessons/<slug:slug>/quiz/<slug:qid>/",
        quiz_views.question_submit,
        name="question_submit",
    ),
    path("attempts/", quiz_views.my_attempts, name="my_attempts"),
    path("classes/", class_views.class_list, name="classes"),
    path("classes/new/", class_views.class_new, name="class_new"),
    path("classes/join/", class_views.class_join_view, name="class_join"),
    path("classes/<int:class_id>/", class_views.class_detail, name="class_detail"),
    path("classes/<int:class_id>/gradebook.csv", class_views.gradebook_csv, name="gradebook_csv"),
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
]
