from django.contrib import admin

from .models import (
    Attempt,
    Classroom,
    Course,
    Lesson,
    LessonProgress,
    Membership,
    Module,
    Question,
    Quiz,
)


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


class QuestionInline(admin.TabularInline):
    model = Question
    fields = ["qid", "type", "order", "retired"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):
    # Questions are edited as files (quiz.yaml) and imported; here they are shown only.
    list_display = ["lesson", "max_attempts", "min_seconds_between", "show_answers"]
    inlines = [QuestionInline]


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    # Attempts are append-only records: the admin may look, never change.
    list_display = ["user", "qid", "score", "correct", "created_at"]
    list_filter = ["correct"]
    search_fields = ["user__username", "qid"]
    list_select_related = ["user"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Classroom)
class ClassroomAdmin(admin.ModelAdmin):
    list_display = ["name", "join_code", "created_at"]
    search_fields = ["name", "join_code"]
    filter_horizontal = ["instructors"]
    inlines = [MembershipInline]
