"""/api/v2/jobs: user exports and imports as background jobs (Auth0's shapes)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import FileResponse, HttpRequest
from django.urls import reverse
from ninja import File, Form, Router
from ninja.files import UploadedFile
from ninja.responses import Status

from users import jobs, metadata
from users.api.auth import ApiRequest, api_context, require_scope
from users.api.errors import ApiError
from users.api.schemas import ExportRequest, ImportErrorOut, JobOut, api_time
from users.api.users import ERRORS
from users.batches.import_errors import auth0_failure
from users.errors import Refusal
from users.imports import ImportFileError
from users.models import DATABASE_CONNECTION, ApiClient, Connection, Job, Scope, Tenant

router = Router(tags=["jobs"])
_TYPES = {Job.Kind.EXPORT: "users_export", Job.Kind.IMPORT: "users_import"}
_STATUS = {
    Job.Status.QUEUED: "pending",
    Job.Status.RUNNING: "processing",
    Job.Status.SUCCEEDED: "completed",
    Job.Status.FAILED: "failed",
}
_SIGNER = signing.TimestampSigner(salt="users.api.jobs.file")


def _connection(tenant: Tenant, connection_id: str | None) -> Connection | None:
    """A connection by its id (`con_<n>`, as job responses show it) or by its name."""
    if not connection_id:
        return None
    if not metadata.storable_text(connection_id):
        raise ApiError(
            400, "connection_id has a NUL character or a lone surrogate.", "invalid_body"
        )
    pk = connection_id.removeprefix("con_")
    found = tenant.connections.filter(name=connection_id).first()
    if found is None and pk.isdigit():
        found = tenant.connections.filter(pk=int(pk)).first()
    if found is None:
        raise ApiError(400, f"The connection {connection_id!r} does not exist.", "invalid_body")
    return found


def _job_id(job: Job) -> str:
    return f"job_{job.pk}"


def _job(request: ApiRequest, job_id: str) -> Job:
    pk = job_id.removeprefix("job_")
    job = None
    if pk.isdigit():
        job = Job.objects.filter(
            tenant=request.api_client.tenant, pk=int(pk), kind__in=list(_TYPES)
        ).first()
    if job is None:
        raise ApiError(404, "The job does not exist.", "inexistent_job")
    return jobs.refresh(job)


def _job_out(request: ApiRequest, job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": _job_id(job),
        "type": _TYPES[Job.Kind(job.kind)],
        "status": _STATUS[Job.Status(job.status)],
        "created_at": api_time(job.created_at),
        "percentage_done": job.percent,
    }
    out.update(job.params.get("api", {}))  # connection_id, external_id: as the client gave them
    if job.kind == Job.Kind.EXPORT:
        out["format"] = "csv" if job.params["fmt"] == "csv" else "json"
        if job.status == Job.Status.SUCCEEDED and job.file_name and not jobs.expired(job):
            # The link names the client it was given to: it dies with that client's token.
            token = _SIGNER.sign(f"{job.pk}:{request.api_client.pk}")
            # Ends with the file's name, as Auth0's does (`....csv.gz`): always gzipped.
            path = reverse("api:job_file", kwargs={"token": token, "name": job.file_name})
            out["location"] = request.build_absolute_uri(path)
    else:
        report = job.result.get("report")
        if report and job.finished:
            out["summary"] = {
                key: report[key] for key in ("inserted", "updated", "failed", "total")
            }
    return out


@router.post("/jobs/users-exports", response={201: JobOut, **ERRORS}, exclude_unset=True)
def export_users(request: ApiRequest, payload: ExportRequest) -> Any:
    """Export every user (of one connection, if given) as NDJSON ("json") or CSV."""
    client = require_scope(request, Scope.READ_USERS)
    connection = _connection(client.tenant, payload.connection_id)
    q = f'identities.connection:"{connection.name}"' if connection else ""
    columns = (
        [f"{field.name}:{field.export_as or field.name}" for field in payload.fields]
        if payload.fields
        else None
    )
    try:
        job = jobs.export_job_start(
            tenant=client.tenant,
            staff_pk=None,
            q=q,
            columns=",".join(columns) if columns else None,
            fmt="csv" if payload.format == "csv" else "ndjson",
            gzip=True,  # Auth0's export files are always gzipped; clients gunzip `location`
            api_fields={"connection_id": payload.connection_id} if payload.connection_id else None,
        )
    except Refusal as error:
        raise ApiError(400, error.message, "invalid_body") from None
    return Status(201, _job_out(request, job))


@router.post("/jobs/users-imports", response={202: JobOut, **ERRORS}, exclude_unset=True)
def import_users(
    request: ApiRequest,
    users: File[UploadedFile],
    connection_id: Form[str],
    upsert: Form[bool] = False,
    external_id: Form[str | None] = None,
    send_completion_email: Form[bool] = False,
) -> Any:
    """Import Auth0 bulk-import JSON into a connection; upsert updates existing users."""
    client = require_scope(request, Scope.CREATE_USERS)
    if upsert:
        require_scope(request, Scope.UPDATE_USERS)
    connection = _connection(client.tenant, connection_id)
    limit = settings.IMPORT_MAX_BYTES
    if (users.size or 0) > limit:
        raise ApiError(413, f"The file is over the {limit:,}-byte limit; split it.", "invalid_body")
    try:
        job = jobs.import_job_start(
            tenant=client.tenant,
            staff_pk=None,
            data=users.read(),
            file_name=users.name or "users.json",
            fmt="json",
            upsert=upsert,
            metadata_mode="replace",
            dry_run=False,
            connection=connection.name if connection else DATABASE_CONNECTION,
            actor=api_context(request).actor,
            api_fields={
                "connection_id": connection_id,
                **({"external_id": external_id} if external_id else {}),
            },
        )
    except ImportFileError as error:
        raise ApiError(400, error.message, "invalid_body") from None
    return Status(202, _job_out(request, job))


@router.get("/jobs/{id}", response={200: JobOut, **ERRORS}, exclude_unset=True)
def get_job(request: ApiRequest, id: str) -> Any:
    require_scope(request, Scope.READ_USERS, Scope.CREATE_USERS)
    return _job_out(request, _job(request, id))


@router.get("/jobs/{id}/errors", response={200: list[ImportErrorOut], **ERRORS})
def get_job_errors(request: ApiRequest, id: str) -> Any:
    """The refused rows of an import, as Auth0 reports them: each user as given in the file
    (secrets redacted) and its errors, `[{user, errors: [{code, message, path, errorCode}]}]`
    with Auth0's import error code in `code` and ours in `errorCode`."""
    require_scope(request, Scope.READ_USERS, Scope.CREATE_USERS)
    job = _job(request, id)
    path = jobs.job_path(job) if job.kind == Job.Kind.IMPORT and job.file_name else None
    if path is None or not job.finished or not path.is_file():
        return []
    with path.open(encoding="utf-8") as lines:
        return [auth0_failure(json.loads(line)) for line in lines]


@router.get("/jobs/files/{token}/{name}", auth=None, url_name="job_file", include_in_schema=False)
def job_file(request: HttpRequest, token: str, name: str) -> FileResponse:
    """An export's file (gzipped), by the signed location the job gave: for as long as the
    file lives (FILE_LIFETIME after the job finished) and the API client it was given to is
    not revoked. `name` is the file's own."""
    job = _export_job(token)
    if name != job.file_name:
        raise ApiError(404, "No such file, or its link expired.", "inexistent_job")
    return _export_file(job)


@router.get("/jobs/files/{token}", auth=None, include_in_schema=False)
def job_file_unnamed(request: HttpRequest, token: str) -> FileResponse:
    """A location given before locations ended with the file's name."""
    return _export_file(_export_job(token))


def _export_job(token: str) -> Job:
    """The export job a signed location names, if its file and its client are still there."""
    try:
        job_pk, _, client_pk = _SIGNER.unsign(token, max_age=jobs.FILE_LIFETIME).partition(":")
        job = Job.objects.filter(
            pk=int(job_pk), kind=Job.Kind.EXPORT, status=Job.Status.SUCCEEDED
        ).first()
        client = ApiClient.objects.filter(pk=int(client_pk), revoked_at=None).first()
    except (signing.BadSignature, ValueError):
        raise ApiError(404, "No such file, or its link expired.", "inexistent_job") from None
    if client is None or job is None or job.tenant_id != client.tenant_id:
        raise ApiError(
            404, "No such file, or the client it was given to is revoked.", "inexistent_job"
        )
    if jobs.expired(job) or not job.file_name or not jobs.job_path(job).is_file():
        raise ApiError(404, "No such file, or it expired.", "inexistent_job")
    return job


def _export_file(job: Job) -> FileResponse:
    return FileResponse(jobs.job_path(job).open("rb"), as_attachment=True, filename=job.file_name)
