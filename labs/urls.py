from django.urls import path

from . import views

app_name = "labs"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("servers/", views.hosts_overview, name="hosts"),  # before the lab slugs
    path("servers/<str:host_id>/forget/", views.host_forget, name="host-forget"),
    path("<slug:slug>/", views.lab_detail, name="detail"),
    path("<slug:slug>/run/", views.run_start, name="start"),
    path("<slug:slug>/students/", views.lab_runs_for_instructor, name="instructor_runs"),
    path("<slug:slug>/runs/<int:run_id>/", views.run_detail, name="run"),
    path("<slug:slug>/runs/<int:run_id>/cancel/", views.run_stop, name="cancel"),
    path("<slug:slug>/runs/<int:run_id>/csv/", views.run_download, name="csv"),
]
