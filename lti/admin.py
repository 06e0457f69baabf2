"""Django admin views of virtlab's LTI rows (django-lti registers its own)."""

from django.contrib import admin

from .models import ContextClass, GradeLink, PlatformAccount


@admin.register(PlatformAccount)
class PlatformAccountAdmin(admin.ModelAdmin):
    list_display = ["user", "issuer", "sub", "created_at"]
    search_fields = ["user__username", "sub", "issuer"]
    readonly_fields = ["issuer", "sub", "user", "created_at"]


@admin.register(ContextClass)
class ContextClassAdmin(admin.ModelAdmin):
    list_display = ["context", "classroom", "roster_imported_at"]


@admin.register(GradeLink)
class GradeLinkAdmin(admin.ModelAdmin):
    list_display = ["account", "lesson", "last_score", "last_sent_at", "failures", "last_error_at"]
    list_filter = ["failures"]
