from django.contrib import admin

from .models import TerminalSession


@admin.register(TerminalSession)
class TerminalSessionAdmin(admin.ModelAdmin):
    list_display = ("public_id", "user", "kind", "status", "created_at", "end_reason")
    list_filter = ("kind", "status")
    search_fields = ("user__username",)
    readonly_fields = ("public_id", "sandbox_id", "started_at", "ended_at")
