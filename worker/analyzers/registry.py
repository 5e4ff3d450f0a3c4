"""The analyzers jobs may choose from, by name, and their loaded instances.

Every analyzer is one module of this package that declares a SPEC
(base.AnalyzerSpec); listing it in ANALYZERS is all it takes for chunk
sizing, routing, the form, /api/analyzers/, the OpenAPI document and the
worker's preload to offer it.
"""

from __future__ import annotations

from functools import cache

from worker.analyzers import e5, vader
from worker.analyzers.base import Analyzer, AnalyzerSpec
from worker.exceptions import InputError
from worker.messages import gettext_noop

ANALYZERS: tuple[AnalyzerSpec, ...] = (e5.SPEC, vader.SPEC)

_SPECS: dict[str, AnalyzerSpec] = {spec.name: spec for spec in ANALYZERS}


class UnknownAnalyzer(LookupError):
    """No analyzer is registered under the requested name."""


def analyzer_names() -> list[str]:
    """Return the names jobs may choose from, in the registry's order."""
    return list(_SPECS)


def analyzer_specs() -> list[AnalyzerSpec]:
    """Return every registered analyzer's spec, in the registry's order."""
    return list(_SPECS.values())


def spec_get(name: str) -> AnalyzerSpec:
    """Return the named analyzer's spec, or raise UnknownAnalyzer naming the choices."""
    try:
        return _SPECS[name]
    except KeyError:
        raise UnknownAnalyzer(
            f"Unknown analyzer {name!r}; choose one of: {', '.join(analyzer_names())}."
        ) from None


def spec_for_job(name: str) -> AnalyzerSpec:
    """Return a job's analyzer's spec; one gone since the submit is the job's bad input (InputError)."""
    try:
        return spec_get(name)
    except UnknownAnalyzer:
        # The words of a submit's refusal (web.services.analyzer_validate), in the reader's language.
        raise InputError(
            gettext_noop("Unknown analyzer %(analyzer)s; choose one of: %(names)s."),
            params={"analyzer": repr(name), "names": ", ".join(analyzer_names())},
            code="unknown_analyzer",
        ) from None


@cache
def get_analyzer(name: str) -> Analyzer:
    """Return the process's shared instance of the named analyzer, loading it on first use."""
    return spec_get(name).load()


def register(spec: AnalyzerSpec) -> None:
    """Add an analyzer (or replace the one of that name): for tests and plugins loaded at startup."""
    _SPECS[spec.name] = spec
    get_analyzer.cache_clear()


def unregister(name: str) -> None:
    """Remove an analyzer added with register()."""
    _SPECS.pop(name, None)
    get_analyzer.cache_clear()
