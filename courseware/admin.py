from django.contrib import admin

from .models import Course, Lesson, LessonProgress, Module


class ModuleInline(admin.TabularInline):
    model = Module
    extra = 0


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ["title", "slug"]
    inlines = [ModuleInline]


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "module", "order", "published"]
    list_filter = ["module", "published"]
    search_fields = ["title", "slug"]


@admin.register(LessonProgress)
class LessonProgressAdmin(admin.ModelAdmin):
    list_display = ["user", "lesson", "state", "last_opened_at"]
    list_filter = ["state"]
    list_select_related = ["user", "lesson"]
