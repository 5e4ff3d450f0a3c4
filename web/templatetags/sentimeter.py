"""Template filters for the pages."""

from django import template

register = template.Library()


@register.filter
def thousands(value: object) -> str:
    """Write a whole number with thousands separators (1,200); anything else as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)
