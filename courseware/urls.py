from django.urls import path

from . import views

app_name = "courseware"

urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/<slug:slug>/", views.lesson_detail, name="lesson"),
    path("lessons/<slug:slug>/done/", views.lesson_mark_done, name="lesson_done"),
    path("teach/", views.teach_overview, name="teach"),
]
