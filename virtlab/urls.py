from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("courseware.account_urls")),
    path("labs/", include("labs.urls")),
    path("", include("courseware.urls")),
]
