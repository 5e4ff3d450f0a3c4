from django.contrib.auth import views as auth_views
from django.urls import path

from web import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/", views.jobs, name="job-list"),
    path("jobs/<str:job_id>/", views.job_detail, name="job-detail"),
    path("jobs/<str:job_id>/cancel/", views.job_cancel, name="job-cancel"),
    path("jobs/<str:job_id>/group/", views.job_group, name="job-group"),
    path("api/openapi.json", api.openapi, name="api-openapi"),
    path("api/docs/", views.api_docs, name="api-docs"),
    path("api/analyzers/", api.analyzers, name="api-analyzer-list"),
    path("api/jobs/", api.jobs, name="api-job-list"),
    path("api/jobs/<str:job_id>/", api.job_detail, name="api-job-detail"),
    path("api/jobs/<str:job_id>/cancel/", api.job_cancel, name="api-job-cancel"),
    path("api/jobs/<str:job_id>/results/", api.job_results, name="api-job-results"),
    path("api/jobs/<str:job_id>/drivers/", api.job_drivers, name="api-job-drivers"),
    path("api/jobs/<str:job_id>/results.csv", api.job_results_csv, name="api-job-results-csv"),
    path("api/jobs/<str:job_id>/groups/", api.job_groups, name="api-job-groups"),
    path("api/jobs/<str:job_id>/trend/", api.job_trend, name="api-job-trend"),
    path("api/jobs/<str:job_id>/results.jsonl", api.job_results_jsonl, name="api-job-results-jsonl"),
    path("api/jobs/<str:job_id>/results.xlsx", api.job_results_xlsx, name="api-job-results-xlsx"),
    path("tokens/", views.tokens_page, name="tokens"),
    path("tokens/<str:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("api/tokens/", api.token_list, name="api-token-list"),
    path("api/tokens/<str:token_id>/", api.token_detail, name="api-token-detail"),
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
]
