"""The submit form on the home page: paste texts, or upload a file."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from worker.analyzers.base import AnalyzerSpec
from worker.analyzers.registry import analyzer_specs
from worker.languages import NAMES as LANGUAGE_NAMES
from worker.webhooks import MAX_URL_CHARS

# What the file picker offers (submit.js refuses anything else before uploading).
ACCEPT_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".text", ".jsonl", ".ndjson", ".xlsx", ".xlsm")
ACCEPT = ",".join(
    [
        *ACCEPT_EXTENSIONS,
        "text/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ]
)
ENCODING_CHOICES = [
    ("auto", gettext_lazy("Detect automatically")),
    ("utf-8", "UTF-8"),
    ("utf-16", "UTF-16"),
    ("windows-1252", gettext_lazy("Windows-1252 (Western European)")),
    ("cp949", gettext_lazy("CP949 / EUC-KR (Korean)")),
    ("latin-1", "Latin-1"),
]


class SubmitForm(forms.Form):
    texts = forms.CharField(
        label=gettext_lazy("Texts, one per line"),
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 10,
                "placeholder": gettext_lazy("I loved it!\nThe delivery was late and the box was crushed."),
            }
        ),
        strip=False,
    )
    file = forms.FileField(
        label=gettext_lazy("Or upload a file"),
        required=False,
        widget=forms.FileInput(attrs={"accept": ACCEPT}),
    )
    column = forms.CharField(
        label=gettext_lazy("Column with the text"),
        required=False,
        max_length=200,
        help_text=gettext_lazy(
            "For CSV and TSV files. Empty: the column named like text, review or comment, "
            "else the first column that holds text."
        ),
    )
    sheet = forms.CharField(
        label=gettext_lazy("Sheet"),
        required=False,
        max_length=200,
        help_text=gettext_lazy("For Excel workbooks. Empty: the first sheet."),
    )
    group_by = forms.CharField(
        label=gettext_lazy("Column to group by"),
        required=False,
        max_length=255,
        help_text=gettext_lazy(
            "Optional, for files with columns: results are compared per value of this column, "
            "such as product or store. You can also choose it on the job's page."
        ),
    )
    encoding = forms.ChoiceField(
        label=gettext_lazy("Encoding"), choices=ENCODING_CHOICES, required=False, initial="auto"
    )
    analyzer = forms.ChoiceField(label=gettext_lazy("Analyzer"), required=False, widget=forms.RadioSelect)
    # Checked (https, a public address) by services.callback_url_validate, as for the API.
    callback_url = forms.CharField(
        label=gettext_lazy("Webhook URL (optional)"),
        required=False,
        max_length=MAX_URL_CHARS,
        widget=forms.URLInput,
        help_text=gettext_lazy(
            "When the job ends, its result is POSTed here, signed with the secret on the API tokens page."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        conf = settings.SENTIMETER
        self.fields["texts"].help_text = _(
            "Up to %(texts)s texts of at most %(chars)s characters each. Blank lines are ignored."
        ) % {"texts": f"{conf['MAX_TEXTS_PER_JOB']:,}", "chars": f"{conf['MAX_TEXT_CHARS']:,}"}
        self.fields["file"].widget.attrs["data-max-bytes"] = conf["MAX_UPLOAD_BYTES"]
        self.fields["file"].help_text = _(
            "CSV, TSV, Excel (.xlsx), plain text (one text per line) or JSON Lines, at most %(size)s. "
            "Rows without text are skipped and reported."
        ) % {"size": filesizeformat(conf["MAX_UPLOAD_BYTES"])}
        self.fields["analyzer"].choices = [(spec.name, _(spec.label)) for spec in analyzer_specs()]
        self.fields["analyzer"].initial = settings.SENTIMETER["DEFAULT_ANALYZER"]

    def analyzer_options(self) -> list[dict]:
        """Each analyzer's radio button with what it reads and how fast, in plain words."""
        specs = {spec.name: spec for spec in analyzer_specs()}
        options = []
        for radio in self["analyzer"]:
            if radio.data["value"] not in specs:
                continue
            # Screen readers read the hint with the choice (home.html gives it this id).
            radio.data["attrs"] = {**radio.data["attrs"], "aria-describedby": f"{radio.id_for_label}_hint"}
            options.append({"radio": radio, "hint": analyzer_hint(specs[radio.data["value"]])})
        return options

    def clean(self):
        data = super().clean()
        if "file" not in self.errors and not data.get("file") and not (data.get("texts") or "").strip():
            self.add_error("texts", _("Paste at least one text, one per line, or choose a file."))
        return data


def analyzer_hint(spec: AnalyzerSpec) -> str:
    """Describe an analyzer for the form: what it is, what it reads, how fast."""
    named = [_(LANGUAGE_NAMES[lang]) for lang in spec.languages if lang in LANGUAGE_NAMES and lang != "latin"]
    if len(named) == 1:
        reads = str(named[0])
    elif len(named) == 2:
        reads = _("%(first)s and %(second)s") % {"first": named[0], "second": named[1]}
    else:
        reads = _("%(first)s, %(second)s and %(more)d more") % {
            "first": named[0],
            "second": named[1],
            "more": len(named) - 2,
        }
    rate = spec.texts_per_second
    speed = f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"
    return _("%(description)s Reads %(reads)s. About %(speed)s short texts a second per worker.") % {
        "description": _(spec.description),
        "reads": reads,
        "speed": speed,
    }
