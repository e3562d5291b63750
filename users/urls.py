from django.urls import path

from users.views.api_clients import api_client_revoke, api_clients
from users.views.applications import (
    application_delete,
    application_detail,
    application_rotate_secret,
    applications,
    signing_key_rotate,
)
from users.views.audit import event_revert
from users.views.audit_log import audit_log
from users.views.bulk_edit import bulk_edit
from users.views.dashboard import dashboard, tenant_settings
from users.views.export import user_export
from users.views.home import home, tenant_switch
from users.views.jobs import (
    batch_revert,
    export_start,
    import_repeat,
    import_start,
    job_detail,
    job_download,
    job_list,
    job_resume,
)
from users.views.metadata import metadata_delete_key, metadata_edit
from users.views.sign_ins import sign_ins, user_unblock_sign_ins
from users.views.user_actions import user_block, user_delete
from users.views.user_detail import user_detail
from users.views.user_list import user_list

app_name = "users"

urlpatterns = [
    path("", home, name="home"),
    path("switch/", tenant_switch, name="tenant_switch"),
    path("t/<slug:tenant>/", dashboard, name="dashboard"),
    path("t/<slug:tenant>/settings/", tenant_settings, name="tenant_settings"),
    path("t/<slug:tenant>/api-clients/", api_clients, name="api_clients"),
    path(
        "t/<slug:tenant>/api-clients/<int:client_id>/revoke/",
        api_client_revoke,
        name="api_client_revoke",
    ),
    path("t/<slug:tenant>/applications/", applications, name="applications"),
    path(
        "t/<slug:tenant>/applications/<int:app_id>/",
        application_detail,
        name="application_detail",
    ),
    path(
        "t/<slug:tenant>/applications/<int:app_id>/rotate-secret/",
        application_rotate_secret,
        name="application_rotate_secret",
    ),
    path(
        "t/<slug:tenant>/applications/<int:app_id>/delete/",
        application_delete,
        name="application_delete",
    ),
    path("t/<slug:tenant>/signing-keys/rotate/", signing_key_rotate, name="signing_key_rotate"),
    path("t/<slug:tenant>/users/", user_list, name="user_list"),
    path("t/<slug:tenant>/users/export/", user_export, name="user_export"),
    path("t/<slug:tenant>/users/bulk-edit/", bulk_edit, name="bulk_edit"),
    path("t/<slug:tenant>/users/import/", import_start, name="import_start"),
    path("t/<slug:tenant>/users/<str:user_id>/", user_detail, name="user_detail"),
    path(
        "t/<slug:tenant>/users/<str:user_id>/metadata/<str:tier>/",
        metadata_edit,
        name="metadata_edit",
    ),
    path(
        "t/<slug:tenant>/users/<str:user_id>/metadata/<str:tier>/delete-key/",
        metadata_delete_key,
        name="metadata_delete_key",
    ),
    path("t/<slug:tenant>/users/<str:user_id>/block/", user_block, name="user_block"),
    path("t/<slug:tenant>/users/<str:user_id>/delete/", user_delete, name="user_delete"),
    path(
        "t/<slug:tenant>/users/<str:user_id>/unblock-sign-ins/",
        user_unblock_sign_ins,
        name="user_unblock_sign_ins",
    ),
    path("t/<slug:tenant>/sign-ins/", sign_ins, name="sign_ins"),
    path("t/<slug:tenant>/jobs/export/", export_start, name="export_start"),
    path("t/<slug:tenant>/jobs/", job_list, name="job_list"),
    path("t/<slug:tenant>/jobs/<int:job_id>/", job_detail, name="job_detail"),
    path("t/<slug:tenant>/jobs/<int:job_id>/resume/", job_resume, name="job_resume"),
    path("t/<slug:tenant>/jobs/<int:job_id>/import/", import_repeat, name="import_repeat"),
    path("t/<slug:tenant>/jobs/<int:job_id>/download/", job_download, name="job_download"),
    path("t/<slug:tenant>/audit/", audit_log, name="audit_log"),
    path("t/<slug:tenant>/audit/<int:seq>/revert/", event_revert, name="event_revert"),
    path("t/<slug:tenant>/audit/batch/<str:batch_id>/revert/", batch_revert, name="batch_revert"),
]
