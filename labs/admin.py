from django.contrib import admin

from .models import LabRun


@admin.register(LabRun)
class LabRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "lab", "user", "status", "created_at", "finished_at"]
    list_filter = ["lab", "status"]
    search_fields = ["user__username", "lab"]
    list_select_related = ["user"]
    readonly_fields = ["host_facts", "results", "params", "error"]
