"""What every page's template gets besides its view's context."""

from django.http import HttpRequest
from django.utils.translation import gettext as _

from web.templatetags.sentimeter import STATUS_NAMES


def script_strings(request: HttpRequest) -> dict:
    """The words the page's scripts write, in the reader's language (web/static/web/i18n.js reads them)."""
    return {
        "script_strings": {
            "under_1s": _("under 1 s"),
            "h_min": _("%(h)d h %(min)02d min"),
            "min_s": _("%(min)d min %(s)02d s"),
            "s": _("%(s)d s"),
            "about": _("about %(duration)s"),
            "rate": _("%(rate)s texts/s"),
            "progress": _("%(done)s of %(total)s texts"),
            **{f"status_{status}": str(name) for status, name in STATUS_NAMES.items()},
            "bytes": _("%(n)s bytes"),
            "remove_file": _("Remove file"),
            "chosen": _("Chosen: %(name)s (%(size)s)."),
            "file_not_texts": _("The file is analyzed, not the pasted texts."),
            "too_big": _("The file %(name)s is %(size)s; the limit is %(limit)s."),
            "automatic_named": _("Automatic: %(name)s"),
            "automatic": _("Automatic: the first column that holds text"),
            "unreadable": _("We cannot read %(name)s. Choose a file of one of these types: %(types)s."),
            "convert": _(
                "We cannot read %(name)s. Save it as .xlsx or .csv in Excel / LibreOffice / Numbers: "
                "File → Save As / Export."
            ),
            "columns_hint": _(
                "The columns of the file's first line. Automatic: the column named like text, review or "
                "comment, else the first column that holds text."
            ),
        }
    }
