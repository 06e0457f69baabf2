from django.urls import path

from . import views

app_name = "labs"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("<slug:slug>/", views.lab_detail, name="detail"),
]
