from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView


class FaviconRedirect(RedirectView):
    """Browsers and feed readers ask for /favicon.ico whatever the page's <link> says;
    send them to the icon (its URL is only known once static files are collected)."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("img/favicon.svg")


urlpatterns = [
    path("favicon.ico", FaviconRedirect.as_view()),
    path("admin/", admin.site.urls),
    path("accounts/", include("courseware.account_urls")),
    path("labs/", include("labs.urls")),
    path("terminals/", include("terminals.urls")),
    path("lti/", include("lti.urls")),
    path("", include("courseware.urls")),
]
