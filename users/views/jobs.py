"""Export jobs in the console: start one, watch its progress, download the file."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from metadata_admin.http import AuthenticatedHttpRequest
from users import jobs
from users.access import tenant_view
from users.exports import ExportError
from users.models import Job, Membership, Role
from users.search import SearchError


def _job(membership: Membership, job_id: int) -> Job:
    job = Job.objects.filter(tenant=membership.tenant, pk=job_id).first()
    if job is None:
        raise Http404("No such job.")
    return jobs.refresh(job)


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
    except (ExportError, SearchError) as error:
        messages.error(request, f"Export refused: {error.message}")
        return redirect(reverse("users:user_list", args=[tenant.slug]))
    return redirect(reverse("users:job_detail", args=[tenant.slug, job.pk]))


@require_GET
@tenant_view(Role.ADMIN)
def job_detail(
    request: AuthenticatedHttpRequest, membership: Membership, job_id: int
) -> HttpResponse:
    job = _job(membership, job_id)
    context = {
        "membership": membership,
        "tenant": membership.tenant,
        "job": job,
        "expired": jobs.expired(job),
    }
    template = "users/job_detail.html#job-progress" if request.htmx else "users/job_detail.html"
    return render(request, template, context)


@require_GET
@tenant_view(Role.ADMIN)
def job_download(
    request: AuthenticatedHttpRequest, membership: Membership, job_id: int
) -> HttpResponseBase:
    job = _job(membership, job_id)
    path = jobs.job_path(job) if job.file_name else None
    if job.status != Job.Status.SUCCEEDED or path is None or not path.is_file():
        raise Http404("This job has no file (yet).")
    if jobs.expired(job):
        raise Http404("This file expired; files are kept 24 hours. Export again.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=job.file_name)
