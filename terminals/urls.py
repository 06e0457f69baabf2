from django.urls import path

from . import views

app_name = "terminals"

urlpatterns = [
    path("", views.terminals, name="index"),
    path("start/", views.start, name="start"),
    path("<uuid:public_id>/", views.session_page, name="session"),
    path("<uuid:public_id>/end/", views.end, name="end"),
]
