"""What a reader of a page sees, to check that a Korean page has no English left (tests/test_i18n.py)."""

import re
from html.parser import HTMLParser

# Words that stay as they are in a Korean page: names of the product, formats,
# encodings and the analyzer, the column names a file's header is matched on, and
# the acronyms of the tokens page (a request's CSRF token, the README it points to).
KEPT = {
    "sentimeter", "csv", "tsv", "json", "lines", "utf", "vader", "e5", "euc", "kr",
    "windows", "latin", "text", "review", "comment", "utc", "kb", "mb", "bytes", "cp", "api",
    "excel", "xlsx", "csrf", "readme",
}  # fmt: skip


class VisibleText(HTMLParser):
    """What a reader sees or hears: text, and the labels and hints in attributes.

    Left out: scripts and styles, the user's own texts (class "text", "clamp", the
    title), literal code (a token, a header to send), and elements marked as another
    language (the switcher's "English").
    """

    SKIP_CLASSES = {"text", "clamp", "title", "term"}
    VOID = {"meta", "link", "input", "br", "img", "hr", "source", "line", "rect"}

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.stack: list[bool] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        skip = (
            tag in ("script", "style", "title", "h1", "textarea", "code")
            or "lang" in attrs
            and tag != "html"
            or bool(self.SKIP_CLASSES & set((attrs.get("class") or "").split()))
        )
        if not (self.stack and self.stack[-1]) and not skip:
            for name in ("aria-label", "placeholder", "alt"):
                if attrs.get(name):
                    self.words.append(attrs[name])
        if tag not in self.VOID:
            self.stack.append(skip or (bool(self.stack) and self.stack[-1]))

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not (self.stack and self.stack[-1]):
            self.words.append(data)


def english_left(html: str, *, job=None) -> list[str]:
    """Words in Latin letters a reader of the page would see, but for KEPT and the job's id."""
    parser = VisibleText()
    parser.feed(html)
    return english_words(" ".join(parser.words), job=job)


def english_words(seen: str, *, job=None) -> list[str]:
    """Words in Latin letters in a text a reader sees, but for KEPT and the job's id."""
    if job is not None:
        seen = seen.replace(str(job.pk)[-8:], "")
    words = re.findall(r"[A-Za-z]{2,}", seen)
    return sorted({w for w in words if w.lower() not in KEPT})
