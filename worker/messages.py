"""Messages for a person, kept so they can be said in the reader's language.

The worker does not know who will read what it stores (a job's error, a
skipped row's reason, a language warning), so it stores a Message: an
English template marked for translation (the msgid of
locale/*/LC_MESSAGES/django.po) and its parameters. The web renders it per
request (web/messages.py) with `gettext(template) % params`; the English text
is stored beside it for clients and rows that predate the templates.
A leaf module: no Django, nothing of ours, so the pure readers use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


def gettext_noop(message: str) -> str:
    """Mark a template for `makemessages`; it is translated where it is shown, not here."""
    return message


@dataclass(frozen=True, slots=True)
class Message:
    """A template (`%(name)s` placeholders) and its parameters; a parameter may be a Message."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, *, translate: Callable[[str], str], number: Callable[[int | float], str]) -> str:
        """Say it with `translate` for templates and `number` for numbers."""
        if not self.params:
            return translate(self.template)
        params = {}
        for name, value in self.params.items():
            if isinstance(value, Message):
                value = value.render(translate=translate, number=number)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                value = number(value)
            params[name] = value
        return translate(self.template) % params

    def english(self) -> str:
        """Say it in English, numbers grouped by commas (what is stored beside it)."""
        return self.render(translate=_same, number=english_number)

    def to_json(self) -> dict:
        """Store it: {"id": template, "params": {...}}, nested messages stored alike."""
        params = {k: v.to_json() if isinstance(v, Message) else v for k, v in self.params.items()}
        return {"id": self.template, "params": params}

    @classmethod
    def from_json(cls, data: object) -> Message | None:
        """Read what to_json stored; None for anything else (a row stored before templates)."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        params = {}
        for name, value in (data.get("params") or {}).items():
            nested = cls.from_json(value) if isinstance(value, dict) else None
            params[name] = nested if nested is not None else value
        return cls(data["id"], params)


def _same(text: str) -> str:
    return text


def english_number(value: int | float) -> str:
    """12000 -> "12,000"; a float keeps its shortest form."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"
