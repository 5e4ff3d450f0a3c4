"""Template filters for the pages."""

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()


@register.filter
def thousands(value: object) -> str:
    """Write a whole number with thousands separators (1,200); anything else as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


# The words the pages show for a label and a status, in the reader's language.
LABEL_NAMES = {"positive": _("Positive"), "neutral": _("Neutral"), "negative": _("Negative")}
STATUS_NAMES = {
    "queued": _("Queued"),
    "running": _("Running"),
    "succeeded": _("Succeeded"),
    "failed": _("Failed"),
    "canceled": _("Canceled"),
}


@register.filter
def label_name(label: str) -> str:
    """Name a label (positive, neutral, negative) for the reader."""
    return str(LABEL_NAMES.get(label, label))


@register.filter
def status_name(status: str) -> str:
    """Name a job's status for the reader."""
    return str(STATUS_NAMES.get(status, status))
