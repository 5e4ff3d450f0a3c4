from django.contrib import admin
from django.urls import include, path

from web import views

urlpatterns = [
    # Ahead of the admin's own: the same page, with failed logins counted.
    path("admin/login/", views.admin_login, name="admin-login"),
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    # set_language: the header's language switcher posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("web.urls")),
]

handler404 = "web.errors.not_found"
handler500 = "web.errors.server_error"
handler400 = "web.errors.bad_request"
handler403 = "web.errors.permission_denied"
