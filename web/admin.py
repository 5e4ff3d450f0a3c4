"""The admin: staff see every job (of every session and user) and every token, never a token's secret."""

from django.contrib import admin

from web.models import ApiToken, Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "analyzer", "session_key", "done", "total", "created_at", "finished_at")
    list_filter = ("status", "analyzer")
    search_fields = ("id", "session_key")
    # Results and input are large: the admin shows the job, it does not edit it.
    readonly_fields = [f.name for f in Job._meta.concrete_fields]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "owner_key", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix", "owner_key")
    # The hash and the salt are of no use to a person; revoking is the one change to make.
    exclude = ("token_hash", "secret_salt")
    readonly_fields = ("name", "prefix", "owner_key", "created_at", "last_used_at")
