"""The submit form on the home page."""

from django import forms
from django.conf import settings

from worker.analyzers import analyzer_names


class PasteForm(forms.Form):
    texts = forms.CharField(
        label="Texts, one per line",
        widget=forms.Textarea(
            attrs={"rows": 10, "placeholder": "I loved it!\nThe delivery was late and the box was crushed."}
        ),
        strip=False,
        error_messages={"required": "Paste at least one text, one per line."},
    )
    analyzer = forms.ChoiceField(label="Analyzer", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["analyzer"].choices = [(name, name.upper()) for name in analyzer_names()]
        self.fields["analyzer"].initial = settings.SENTIMETER["DEFAULT_ANALYZER"]
