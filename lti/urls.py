from django.urls import path

from . import views

app_name = "lti"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    # For platforms that do not send client_id with the login: the registration's own.
    path("login/<uuid:registration_uuid>/", views.LoginView.as_view(), name="login_registration"),
    path("launch/", views.launch, name="launch"),
    path("jwks.json", views.jwks, name="jwks"),
    path("config.json", views.config, name="config"),
    path("deep-link/", views.deep_link_return, name="deep_link_return"),
    path("", views.setup, name="setup"),
    path("platforms/new/", views.platform_edit, name="platform_new"),
    path("platforms/<int:registration_id>/", views.platform_edit, name="platform_edit"),
    path("classes/<int:class_id>/", views.class_lti, name="class"),
    path("classes/<int:class_id>/roster/", views.class_roster, name="class_roster"),
    path("classes/<int:class_id>/resend/", views.class_resend, name="class_resend"),
]
