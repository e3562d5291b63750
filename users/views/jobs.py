"""Background jobs in the console: start one, watch its progress, download its file, resume it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from metadata_admin.http import AuthenticatedHttpRequest
from users import audit, jobs
from users.access import tenant_view
from users.errors import Refusal
from users.forms import ImportForm
from users.imports import ImportFileError
from users.models import AuditEvent, Job, Membership, Role
from users.selectors import batch_events

RECENT_JOBS = 50
LISTED_FAILURES = 20  # on the job page; the download has them all


def _job(membership: Membership, job_id: int) -> Job:
    job = Job.objects.filter(tenant=membership.tenant, pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    return jobs.refresh(job)


def _to_job(membership: Membership, job: Job) -> HttpResponse:
    return redirect(reverse("users:job_detail", args=[membership.tenant.slug, job.pk]))


@require_POST
@tenant_view(Role.ADMIN)
def export_start(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """Queue an export of the users matching `q`; the job page shows its progress."""
    tenant = membership.tenant
    try:
        job = jobs.export_job_start(
            tenant=tenant,
            staff_pk=request.user.pk,
            q=request.POST.get("q", ""),
            columns=request.POST.get("fields") or None,
            fmt=request.POST.get("format", "csv"),
            gzip=request.POST.get("gzip") == "1",
        )
    except Refusal as error:
        messages.error(request, f"Export refused: {error.message}")
        return redirect(reverse("users:user_list", args=[tenant.slug]))
    return _to_job(membership, job)


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def import_start(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """Upload a file; a dry run or the import itself then runs as a job."""
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        limit = settings.IMPORT_MAX_BYTES
        if upload.size > limit:
            form.add_error(
                "file",
                f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes. Split it.",
            )
        else:
            try:
                job = jobs.import_job_start(
                    tenant=membership.tenant,
                    staff_pk=request.user.pk,
                    data=upload.read(),
                    file_name=upload.name or "upload",
                    fmt=form.cleaned_data["format"],
                    upsert=form.cleaned_data["upsert"],
                    metadata_mode=form.cleaned_data["metadata_mode"],
                    dry_run=request.POST.get("intent") != "import",
                )
            except ImportFileError as error:
                form.add_error("file", error.message)
            else:
                return _to_job(membership, job)
    context = {"membership": membership, "tenant": membership.tenant, "form": form}
    return render(request, "users/import.html", context, status=400 if form.errors else 200)


@require_POST
@tenant_view(Role.ADMIN)
def import_repeat(
    request: AuthenticatedHttpRequest, membership: Membership, job_id: int
) -> HttpResponse:
    """After a dry run: import the same file, with the same options, for real."""
    job = _job(membership, job_id)
    if job.kind != Job.Kind.IMPORT or not job.params.get("dry_run"):
        raise Http404("Only a dry run can be imported for real.")
    try:
        return _to_job(membership, jobs.import_job_repeat(job, staff_pk=request.user.pk))
    except ImportFileError as error:
        messages.error(request, error.message)
        return _to_job(membership, job)


@require_POST
@tenant_view(Role.ADMIN)
def job_resume(
    request: AuthenticatedHttpRequest, membership: Membership, job_id: int
) -> HttpResponse:
    job = _job(membership, job_id)
    if not jobs.resume(job):
        messages.error(request, "This job cannot be resumed (it is not stopped, or was resumed).")
    return _to_job(membership, job)


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def batch_revert(
    request: AuthenticatedHttpRequest, membership: Membership, batch_id: str
) -> HttpResponse:
    """Revert every change of an import or bulk edit, as a job; conflicts are reported. It
    asks first: a GET, or a POST without `confirm=yes`, shows what would be reverted."""
    try:
        batch = uuid.UUID(batch_id)
    except ValueError:
        raise Http404("No such batch.") from None
    changes = batch_events(membership.tenant, batch).count()
    if not changes:
        raise Http404("No changes have that batch id.")
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        context = {
            "membership": membership,
            "tenant": membership.tenant,
            "batch_id": batch,
            "changes": changes,
        }
        return render(request, "users/batch_revert.html", context)
    job = jobs.revert_job_start(tenant=membership.tenant, staff_pk=request.user.pk, batch_id=batch)
    if request.htmx:  # the audit log posts with htmx (for its confirm): leave the page
        return HttpResponseClientRedirect(
            reverse("users:job_detail", args=[membership.tenant.slug, job.pk])
        )
    return _to_job(membership, job)


@require_GET
@tenant_view(Role.ADMIN)
def job_list(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    jobs.fail_stale(membership.tenant)
    context = {
        "membership": membership,
        "tenant": membership.tenant,
        "jobs": Job.objects.filter(tenant=membership.tenant).select_related("created_by")[
            :RECENT_JOBS
        ],
    }
    return render(request, "users/job_list.html", context)


@require_GET
@tenant_view(Role.ADMIN)
def job_detail(
    request: AuthenticatedHttpRequest, membership: Membership, job_id: int
) -> HttpResponse:
    job = _job(membership, job_id)
    report = job.result.get("report", {})
    wanted = {sample["seq"]: sample["user_id"] for sample in report.get("samples", [])}
    sampled = AuditEvent.objects.filter(tenant=job.tenant, seq__in=wanted).order_by("seq")
    samples = [(wanted[event.seq], audit.describe(event)) for event in sampled]
    shown = len(report.get("preview", []))
    later = [f for f in report.get("failures", []) if "row" in f and f["row"] >= shown]
    context = {
        "membership": membership,
        "tenant": membership.tenant,
        "job": job,
        "report": report,
        "samples": samples,
        "later_failures": later[:LISTED_FAILURES],
        "expired": jobs.expired(job),
        "resumable": jobs.resumable(job),
        "revertible": (
            job.status == Job.Status.SUCCEEDED
            and job.kind in (Job.Kind.IMPORT, Job.Kind.BULK_EDIT, Job.Kind.REVERT)
            and not report.get("dry_run")
            and report.get("batch_id")
            and batch_events(job.tenant, report["batch_id"]).exists()
        ),
    }
    template = "users/job_detail.html#job-progress" if request.htmx else "users/job_detail.html"
    return render(request, template, context)


@require_GET
@tenant_view(Role.ADMIN)
def job_download(
    request: AuthenticatedHttpRequest, membership: Membership, job_id: int
) -> HttpResponseBase:
    """An export's file, or the failed rows of an import, bulk edit or revert (NDJSON)."""
    job = _job(membership, job_id)
    path = jobs.job_path(job) if job.file_name else None
    if not job.finished or path is None or not path.is_file():
        raise Http404("This job has no file (yet).")
    if jobs.expired(job):
        raise Http404("This file expired; files are kept 24 hours.")
    content_type = "text/csv; charset=utf-8" if job.file_name.endswith(".csv") else None
    return FileResponse(
        path.open("rb"), as_attachment=True, filename=job.file_name, content_type=content_type
    )
