"""System checks of the worker's settings (run by `manage.py check`, at every command's start)."""

from django.conf import settings
from django.core.checks import Error, register

from worker.analyzers.registry import analyzer_names


@register()
def default_analyzer_check(app_configs, **kwargs) -> list[Error]:
    """DEFAULT_ANALYZER must name a registered analyzer, or every job without one would fail."""
    name = settings.SENTIMETER["DEFAULT_ANALYZER"]
    if name in analyzer_names():
        return []
    return [
        Error(
            f"DEFAULT_ANALYZER is {name!r}, which is not an analyzer.",
            hint=f"Set it to one of: {', '.join(analyzer_names())}.",
            id="sentimeter.E001",
        )
    ]
