"""Drop JobChunk.data: chunks are ranges of the stored input (0010), nothing writes texts into them.

A job still running from before 0010 may hold chunks not yet stored whose
texts live only in that column. The release phase runs this migration while
the old worker dynos may still be working on them, and the new code cannot
read them; rather than re-split (a resumed split would have to skip texts
counted by chunks that are neither a prefix of the input nor stored), such a
job is failed here with a message that says what happened and what to do.
Its stored results stay (its page shows them as partial results, their
summary computed from them), its input is dropped like any ended job's, and
chunk runs still on the queue find the job ended and store nothing.
"""

from django.db import migrations
from django.db.models import Q
from django.db.models.functions import Now

ACTIVE = ("queued", "running")
CODE = "interrupted_by_upgrade"
MESSAGE = (
    "Sentimeter was upgraded while this job ran, and the new version cannot continue it. "
    "The results stored so far are kept; submit the input again to analyze all of it."
)


def fail_jobs_with_text_chunks(apps, schema_editor):
    Job = apps.get_model("web", "Job")
    JobChunk = apps.get_model("web", "JobChunk")
    JobInput = apps.get_model("web", "JobInput")
    waiting = JobChunk.objects.filter(end__isnull=True).exclude(status="done").exclude(data=b"")
    job_ids = list(
        waiting.filter(job__status__in=ACTIVE).values_list("job_id", flat=True).distinct().order_by()
    )
    if not job_ids:
        return
    Job.objects.filter(pk__in=job_ids, status__in=ACTIVE).update(
        status="failed", error_code=CODE, error_message=MESSAGE, finished_at=Now()
    )
    JobInput.objects.filter(job_id__in=job_ids).filter(~Q(data=b"")).update(
        data=b"", blocks=[], block_bytes=None
    )
    print(f"\n  failed {len(job_ids)} running job(s) whose chunks held their texts: {CODE}")  # noqa: T201


class Migration(migrations.Migration):
    dependencies = [
        ("web", "0012_column_stats"),
    ]

    operations = [
        migrations.RunPython(fail_jobs_with_text_chunks, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="jobchunk", name="data"),
    ]
