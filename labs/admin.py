from django.contrib import admin

from .models import LabHost, LabRun


@admin.register(LabRun)
class LabRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "lab", "user", "status", "host", "created_at", "finished_at"]
    list_filter = ["lab", "status"]
    search_fields = ["user__username", "lab"]
    list_select_related = ["user"]
    readonly_fields = ["host_facts", "results", "params", "error"]


@admin.register(LabHost)
class LabHostAdmin(admin.ModelAdmin):
    # Written by the hosts' workers; an administrator only removes a host that is gone
    # for good (a worker that starts again registers itself anew).
    list_display = ["hostname", "host_id", "slots_in_use", "slots_total", "last_heartbeat"]
    search_fields = ["hostname", "host_id"]
    readonly_fields = [field.name for field in LabHost._meta.fields]

    def has_add_permission(self, request):
        return False
