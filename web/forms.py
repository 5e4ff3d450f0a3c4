"""The submit form on the home page: paste texts, or upload a file."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from worker.analyzers.base import AnalyzerSpec
from worker.analyzers.registry import analyzer_specs
from worker.languages import NAMES as LANGUAGE_NAMES

ACCEPT = ".csv,.tsv,.txt,.jsonl,.ndjson,text/csv,text/plain,text/tab-separated-values"
ENCODING_CHOICES = [
    ("auto", "Detect automatically"),
    ("utf-8", "UTF-8"),
    ("utf-16", "UTF-16"),
    ("windows-1252", "Windows-1252 (Western European)"),
    ("cp949", "CP949 / EUC-KR (Korean)"),
    ("latin-1", "Latin-1"),
]


class SubmitForm(forms.Form):
    texts = forms.CharField(
        label="Texts, one per line",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 10, "placeholder": "I loved it!\nThe delivery was late and the box was crushed."}
        ),
        strip=False,
    )
    file = forms.FileField(
        label="Or upload a file",
        required=False,
        widget=forms.FileInput(attrs={"accept": ACCEPT}),
    )
    column = forms.CharField(
        label="Column with the text",
        required=False,
        max_length=200,
        help_text="For CSV and TSV files. Empty: the column named like text, review or comment, "
        "else the first column that holds text.",
    )
    encoding = forms.ChoiceField(label="Encoding", choices=ENCODING_CHOICES, required=False, initial="auto")
    analyzer = forms.ChoiceField(label="Analyzer", required=False, widget=forms.RadioSelect)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        conf = settings.SENTIMETER
        self.fields["texts"].help_text = (
            f"Up to {conf['MAX_TEXTS_PER_JOB']:,} texts of at most {conf['MAX_TEXT_CHARS']:,} characters "
            "each. Blank lines are ignored."
        )
        self.fields["file"].widget.attrs["data-max-bytes"] = conf["MAX_UPLOAD_BYTES"]
        self.fields["file"].help_text = (
            f"CSV, TSV, plain text (one text per line) or JSON Lines, at most "
            f"{filesizeformat(conf['MAX_UPLOAD_BYTES'])}. Rows without text are skipped and reported."
        )
        self.fields["analyzer"].choices = [(spec.name, spec.label) for spec in analyzer_specs()]
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
            self.add_error("texts", "Paste at least one text, one per line, or choose a file.")
        return data


def analyzer_hint(spec: AnalyzerSpec) -> str:
    """Describe an analyzer for the form: what it is, what it reads, how fast."""
    named = [LANGUAGE_NAMES[lang] for lang in spec.languages if lang in LANGUAGE_NAMES and lang != "latin"]
    reads = " and ".join(named) if len(named) <= 2 else f"{', '.join(named[:2])} and {len(named) - 2} more"
    rate = spec.texts_per_second
    speed = f"{rate:,.0f}" if rate >= 10 else f"{rate:.1f}"
    return f"{spec.description} Reads {reads}. About {speed} short texts a second per worker."
