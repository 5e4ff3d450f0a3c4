"""Summary statistics of a job's stored results, and the warnings shown with them."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence

from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Mod

from web.models import Job, Result
from worker.analyzers.base import LABELS
from worker.analyzers.registry import UnknownAnalyzer, analyzer_specs, spec_get
from worker.drivers import MIN_TEXTS, drivers
from worker.languages import language_mix, warnings_for

HISTOGRAM_BINS = 20
# Texts (the first ones, in input order) whose language is guessed when a job ends.
LANGUAGE_SAMPLE = 1000
# Texts of each label read to rank what drives a job's sentiment, spread over the job:
# enough for any term worth naming, and a second or two of work at most.
DRIVERS_SAMPLE = 5000
# The most positive and most negative texts a summary keeps, each clipped to this many characters.
EXTREMES = 5
EXTREME_CHARS = 300
# Results read at each end of the scale, whatever their label, to find the extremes among.
EXTREMES_WINDOW = 4 * EXTREMES


def summary_compute(job_id: uuid.UUID, *, details: bool = True) -> dict:
    """Summarize a job's stored results: label counts, mean compound, histogram.

    With `details`, also the extremes and what drives the sentiment (reading
    texts: a second or two on a big job, so a running job's page goes without).
    """
    counts = [dict.fromkeys(("count", *LABELS), 0) for _ in range(HISTOGRAM_BINS)]
    width = 2.0 / HISTOGRAM_BINS
    table = Result._meta.db_table
    # Bin i holds [-1 + i*width, -1 + (i+1)*width). Scores have 4 decimals,
    # so a nudge far below that keeps -0.9 out of the bin below it despite
    # float error; compound == 1.0 gives bin 20, folded into the last one.
    if connection.vendor == "postgresql":
        # Postgres rounds when casting float to integer: floor() first.
        bin_expr, job_param = "CAST(FLOOR((compound + 1.0) * %s + 1e-9) AS INTEGER)", job_id
    else:
        # SQLite's CAST truncates, which is floor() for non-negative values.
        bin_expr, job_param = "CAST((compound + 1.0) * %s + 1e-9 AS INTEGER)", job_id.hex
    # One query gives the histogram and, added up, the counts and the mean (a round trip
    # less for every job: a single text's summary is mostly round trips).
    agg = dict.fromkeys(("count", *LABELS), 0)
    sums = []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {bin_expr} AS bin, label, COUNT(*), SUM(compound) FROM {table} "  # noqa: S608
            "WHERE job_id = %s GROUP BY bin, label",
            [HISTOGRAM_BINS / 2.0, job_param],
        )
        for bin_index, label, n, total in cursor.fetchall():
            counted = counts[min(max(int(bin_index), 0), HISTOGRAM_BINS - 1)]
            counted["count"] += n
            agg["count"] += n
            sums.append(total)
            if label in counted:
                counted[label] += n
                agg[label] += n
    mean = math.fsum(sums) / agg["count"] if agg["count"] else None
    summary = {
        "count": agg["count"],
        "positive": agg["positive"],
        "neutral": agg["neutral"],
        "negative": agg["negative"],
        "mean_compound": round(mean, 4) if mean is not None else None,
        # Each bin also counts its texts by label: an analyzer that labels by more than its
        # score (e5) can have neutral and positive texts with the same score.
        "histogram": [
            {"start": round(-1.0 + i * width, 2), "end": round(-1.0 + (i + 1) * width, 2), **n}
            for i, n in enumerate(counts)
        ],
    }
    if details:
        results = Result.objects.filter(job_id=job_id)
        summary["extremes"] = extremes_of(results, counts=agg)
        summary["drivers"] = drivers_of(results, counts=agg)
    return summary


def group_results(job_id: uuid.UUID, *, column: int, value: str | None) -> QuerySet[Result]:
    """A job's results whose cell `column` (an index into Job.columns) is `value`.

    None or "" is the group of empty cells (stored as null). Postgres reads
    the cell as `cells->i`, SQLite as `json_extract(cells, '$[i]')`.
    """
    # The JSON comparison (cells -> i = '"value"'), which both databases do alike; the text
    # one (KT) compares wrongly on SQLite.
    cell = f"cells__{int(column)}"
    results = Result.objects.filter(job_id=job_id)
    if value in (None, ""):
        return results.filter(Q(**{cell: None}) | Q(**{cell: ""}))
    return results.filter(**{cell: value})


def group_details(job_id: uuid.UUID, *, column: int | None, value: str | None) -> dict:
    """What drives one group of a job (all of it when `column` is None): count, extremes, drivers."""
    results = (
        Result.objects.filter(job_id=job_id)
        if column is None
        else group_results(job_id, column=column, value=value)
    )
    counts = results.aggregate(
        count=Count("idx"),
        positive=Count("idx", filter=Q(label=Result.Label.POSITIVE)),
        negative=Count("idx", filter=Q(label=Result.Label.NEGATIVE)),
    )
    return {
        "count": counts["count"],
        "positive": counts["positive"],
        "negative": counts["negative"],
        "extremes": extremes_of(results, counts=counts),
        "drivers": drivers_of(results, counts=counts),
    }


def drivers_of(results: QuerySet[Result], *, counts: dict) -> dict[str, list[dict]]:
    """The terms that set these results' negative texts apart from their positive ones.

    Reads at most DRIVERS_SAMPLE texts of each label (`counts` has how many
    there are), every n-th by row, so a big job's sample spans all of it.
    Both labels' samples come from one scan of the results, in row order:
    a scan less at the end of a big job, which nothing else runs beside.
    """
    labels = (Result.Label.NEGATIVE, Result.Label.POSITIVE)
    if sum(counts[label] for label in labels) < MIN_TEXTS:
        return drivers([])  # no term can be in enough texts: a single text reads none
    sampled = Q()
    for label in labels:
        step = max(-(-counts[label] // DRIVERS_SAMPLE), 1)
        sampled |= Q(label=label) if step == 1 else Q(label=label, **{f"nth_{label}": 0})
        if step > 1:
            results = results.alias(**{f"nth_{label}": Mod("idx", step)})
    rows = results.filter(sampled).order_by("idx").values_list("text", "label")
    taken = dict.fromkeys(labels, 0)
    texts: list[tuple[str, str]] = []
    for text, label in rows.iterator(chunk_size=DRIVERS_SAMPLE):
        if taken[label] < DRIVERS_SAMPLE:
            taken[label] += 1
            texts.append((text, label))
        elif all(n >= DRIVERS_SAMPLE for n in taken.values()):
            break
    return drivers(texts)


def extremes_of(results: QuerySet[Result], *, counts: dict | None = None) -> dict[str, list[dict]]:
    """The most positive and the most negative of these results (by score, among those so labelled).

    `counts`, when given, has how many results each label has.
    """
    sides = {"positive": (Result.Label.POSITIVE, -1), "negative": (Result.Label.NEGATIVE, 1)}
    return {
        side: [
            {"idx": idx, "row": row, "text": _clipped(text), "compound": compound}
            for idx, row, text, compound in _extremes_side(results, label=label, sign=sign)
        ]
        # A side with no text is not asked for (a query less for a single text's summary).
        if counts is None or counts[side]
        else []
        for side, (label, sign) in sides.items()
    }


def _extremes_side(results: QuerySet[Result], *, label: str, sign: int) -> list[tuple]:
    """The EXTREMES results of `label` first in score order (descending if sign is -1), ties by idx.

    First a look at the few results at that end of the scale, whatever their
    label, read in the order of the (job, compound) index: a millisecond. The
    query by label and score (the fallback, when ties or other labels run
    past that window) is planned, just after a big job's results are written,
    as a scan of all of them and a sort.
    """
    columns = ("idx", "row", "text", "compound", "label")
    window = list(
        results.order_by("compound" if sign > 0 else "-compound").values_list(*columns)[:EXTREMES_WINDOW]
    )
    picked = sorted((r for r in window if r[4] == label), key=lambda r: (sign * r[3], r[0]))
    complete = len(window) < EXTREMES_WINDOW  # every result is in the window
    if len(picked) >= EXTREMES:
        # Every result whose score is as far out as the last one picked is in the window,
        # unless the window ends on that score.
        complete = complete or window[-1][3] != picked[EXTREMES - 1][3]
    if complete:
        return [r[:4] for r in picked[:EXTREMES]]
    ordered = results.filter(label=label).order_by("compound" if sign > 0 else "-compound", "idx")
    return list(ordered.values_list(*columns[:4])[:EXTREMES])


def _clipped(text: str) -> str:
    return text if len(text) <= EXTREME_CHARS else text[: EXTREME_CHARS - 1].rstrip() + "…"


def job_warnings(job_id: uuid.UUID, *, analyzer: str, texts: Sequence[str] | None = None) -> list[dict]:
    """What the user should know about a job's results: texts its analyzer cannot read.

    `texts`, when given, are the job's texts in input order (a job analyzed in
    one go has them in hand: no query).
    """
    try:
        spec = spec_get(analyzer)
    except UnknownAnalyzer:
        return []
    if texts is None:
        texts = Result.objects.filter(job_id=job_id).order_by("idx").values_list("text", flat=True)
    mix = language_mix(texts[:LANGUAGE_SAMPLE])
    return warnings_for(mix, spec=spec, alternatives=analyzer_specs())


def partial_summary_store(job_id: uuid.UUID) -> None:
    """Store the summary of the results a job kept when it ended early (canceled, or failed midway).

    Its results no longer change (a chunk commits only while the job is
    running), so the API shows the summary its page computes, once.
    """
    if Job.objects.filter(pk=job_id, done__gt=0, summary__isnull=True).exists():
        Job.objects.filter(pk=job_id, summary__isnull=True).update(summary=summary_compute(job_id))
