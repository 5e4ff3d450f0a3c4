"""The pages in Korean: chosen by Accept-Language or the switcher, with nothing left in English."""

import html
import json
import re
import uuid
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from tests.builders import browser, csrf_headers, csrf_token, make_job, owner_session, post_json
from tests.visible import english_left
from web import errors
from web.context_processors import script_strings
from web.models import Job
from worker import pipeline, tasks
from worker.analyzers.registry import spec_get

PO = Path(__file__).resolve().parent.parent / "locale" / "ko" / "LC_MESSAGES" / "django.po"
KOREAN = {"HTTP_ACCEPT_LANGUAGE": "ko-KR,ko;q=0.9,en;q=0.5"}


@pytest.fixture
def korean(db):
    return Client(**KOREAN)


def test_the_home_page_in_korean_has_no_english_left(korean):
    html = korean.get("/").content.decode()

    assert '<html lang="ko">' in html
    assert "글의 감성 분석하기" in html
    assert english_left(html) == []


def test_a_finished_job_page_in_korean_has_no_english_left(korean):
    texts = ["I love this, it is wonderful!", "This is terrible and I hate it.", "The box is brown."] * 20
    job = make_job(session_key=owner_session(korean), texts=texts)
    pipeline.job_process(job.pk)

    html = korean.get(f"/jobs/{job.pk}/").content.decode()

    assert "요약" in html and "무엇이 감성을 좌우하나" in html
    assert english_left(html) == []


def test_a_running_job_page_and_the_job_list_in_korean_have_no_english_left(korean):
    job = make_job(session_key=owner_session(korean), status="running")

    assert english_left(korean.get(f"/jobs/{job.pk}/").content.decode(), job=job) == []
    # An untitled job is "작업" and the start of its id.
    assert english_left(korean.get("/jobs/").content.decode(), job=job) == []


def test_english_stays_the_default_and_the_switcher_sets_korean(client, db):
    assert "Analyze the sentiment of texts" in client.get("/").content.decode()

    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/jobs/"})

    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert "내 작업" in client.get("/jobs/").content.decode()
    back = client.get("/").content.decode()
    assert re.search(
        r'<button type="submit" name="language" value="en" class="link" lang="en">English</button>', back
    )


def test_the_scripts_get_their_words_in_the_readers_language(rf):
    with translation.override("ko"):
        strings = script_strings(rf.get("/"))["script_strings"]

    assert strings["progress"] == "%(total)s개 중 %(done)s개"
    assert strings["status_running"] == "분석 중"


def _po_entries() -> list[tuple[str, str | None, str]]:
    """(msgid, msgid_plural or None, msgstr) of every entry but the header, read plainly."""

    def unquote(lines: list[str]) -> str:
        return "".join(
            bytes(line[1:-1], "utf-8").decode("unicode_escape").encode("latin-1").decode() for line in lines
        )

    entries = []
    for block in PO.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        for line in block.splitlines():
            match = re.match(r"^(msgid|msgid_plural|msgstr(?:\[0\])?) (\".*\")$", line)
            if match:
                current = match.group(1)
                fields[current] = [match.group(2)]
            elif line.startswith('"') and current:
                fields[current].append(line)
        if "msgid" in fields and unquote(fields["msgid"]):
            msgstr = fields.get("msgstr") or fields.get("msgstr[0]")
            plural = unquote(fields["msgid_plural"]) if "msgid_plural" in fields else None
            entries.append((unquote(fields["msgid"]), plural, unquote(msgstr)))
    return entries


def test_every_string_has_a_korean_translation_and_the_compiled_catalogue_is_current():
    entries = _po_entries()
    assert len(entries) > 100
    with translation.override("ko"):
        for msgid, plural, msgstr in entries:
            assert msgstr, f"no Korean for {msgid!r}"
            got = translation.ngettext(msgid, plural, 2) if plural else translation.gettext(msgid)
            # A .po edited without compiling (msgfmt -o django.mo django.po) shows here.
            assert got == msgstr, f"django.mo is older than django.po for {msgid!r}"


def test_the_analyzers_are_named_in_the_readers_language_and_stay_english_in_the_worker(korean, client):
    korean_names = {a["name"]: a["label"] for a in korean.get("/api/analyzers/").json()["analyzers"]}
    english_names = {a["name"]: a["label"] for a in client.get("/api/analyzers/").json()["analyzers"]}

    assert korean_names == {"e5": "다국어 (정확)", "vader": "VADER (영어, 빠름)"}
    assert english_names == {"e5": "Multilingual (accurate)", "vader": "VADER (English, fast)"}
    # What the worker writes (a warning's advice) names them as the registry does, in English.
    assert spec_get("e5").label == "Multilingual (accurate)"


# --- API errors and what the worker stores, in the reader's language -----------------

KO = {"Accept-Language": "ko-KR,ko;q=0.9"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _bad_json(client):
    return client.post(
        "/api/jobs/", data=b'{"texts": [', content_type="application/json", headers=csrf_headers(client)
    )


def _unknown_job(client):
    return client.get(f"/api/jobs/{uuid.uuid4()}/")


def _unknown_endpoint(client):
    return client.get("/api/nothing-here/")


def _revoked_token(client):
    return client.get("/api/jobs/", headers={"Authorization": "Bearer smt_not-a-token"})


def _too_many_texts(client):
    return post_json(client, "/api/jobs/", {"texts": ["one", "two", "three"]})


def _no_csrf_header(client):
    return client.post("/api/jobs/", data=json.dumps({"texts": ["one"]}), content_type="application/json")


def _no_text_column(client):
    upload = SimpleUploadedFile("when.csv", b"id,stars,when\n1,5,2026-11-03\n2,4,2026-11-04\n", "text/csv")
    return client.post("/api/jobs/", {"file": upload}, headers=csrf_headers(client))


@pytest.mark.parametrize(
    ("send", "status", "code", "korean", "english"),
    [
        (_bad_json, 400, "invalid_json", "본문이 올바른 JSON이 아닙니다", "The body is not valid JSON"),
        (_unknown_job, 404, "not_found", "그런 작업이 없습니다.", "No such job."),
        (
            _unknown_endpoint,
            404,
            "not_found",
            "그런 작업이나 엔드포인트가 없습니다.",
            "No such job or endpoint.",
        ),
        (
            _revoked_token,
            401,
            "invalid_token",
            "유효하지 않은 API 토큰입니다.",
            "This API token is not valid",
        ),
        (
            _too_many_texts,
            413,
            "too_many_texts",
            "글 3개는 작업 하나의 최대치인 2개보다 많습니다.",
            "3 texts is more than the limit of 2 per job",
        ),
        (
            _no_csrf_header,
            403,
            "csrf_failed",
            "CSRF 확인에 실패했습니다: X-CSRFToken 헤더가 없습니다.",
            "CSRF check failed",
        ),
        (
            _no_text_column,
            400,
            "no_text_column",
            "분석할 글이 들어 있는 열이 없습니다. 열 목록: id: 아이디; stars: 숫자 4–5; when: 날짜.",
            "No column holds text to analyze. The columns are: id: ids; stars: numbers 4–5; when: dates.",
        ),
    ],
    ids=["400-json", "404-job", "404-endpoint", "401-token", "413-texts", "403-csrf", "400-columns"],
)
def test_an_api_error_is_said_in_the_readers_language_and_keeps_its_code(
    db, sentimeter_settings, send, status, code, korean, english
):
    sentimeter_settings["MAX_TEXTS_PER_JOB"] = 2
    said = {}
    for language, headers in (("ko", KO), ("en", {})):
        client = browser(headers=headers)
        response = send(client)
        assert response.status_code == status, response.content
        assert response.json()["error"]["code"] == code
        said[language] = response.json()["error"]["message"]

    assert korean in said["ko"], said["ko"]
    assert english in said["en"] and not HANGUL.search(said["en"]), said["en"]


def test_a_form_error_on_the_home_page_is_in_korean(db, sentimeter_settings):
    sentimeter_settings["MAX_TEXT_CHARS"] = 1000
    client = browser(headers=KO)

    response = client.post("/jobs/", {"csrfmiddlewaretoken": csrf_token(client), "texts": "x" * 1234})

    html = response.content.decode()
    assert "texts[0]이(가) 1,234자입니다. 최대 1,000자까지 분석할 수 있습니다." in html
    # The pasted line is named as the API names its item (README "Known gaps").
    assert english_left(html) == ["texts"]


def _say_both(client, path: str) -> dict:
    """GET path as a Korean reader and as an English one (the same session)."""
    return {"ko": client.get(path, headers=KO), "en": client.get(path)}


@pytest.mark.django_db(transaction=True)
def test_a_failed_jobs_error_and_skipped_rows_are_said_in_the_readers_language_on_the_page_and_in_the_api():
    client = browser()
    # The file's name and columns are the user's words: Korean ones, but for the text column's.
    upload = SimpleUploadedFile("리뷰.csv", "review,번호\n ,1\n,2\n".encode(), "text/csv")
    job = Job.objects.get(
        pk=client.post("/api/jobs/", {"file": upload}, headers=csrf_headers(client)).json()["id"]
    )

    tasks.job_run(str(job.pk))

    api = {language: r.json() for language, r in _say_both(client, f"/api/jobs/{job.pk}/").items()}
    assert api["ko"]["error"] == {
        "code": "no_texts",
        "message": "입력에 분석할 글이 없습니다. 2개 행을 모두 건너뛰었습니다(2행: 'review' 열에 글 없음).",
    }
    assert api["en"]["error"] == {
        "code": "no_texts",
        "message": "There is no text to analyze in the input: all 2 rows were skipped "
        "(row 2: no text in column 'review').",
    }
    assert api["ko"]["skipped"]["examples"] == [
        {"row": 2, "reason": "'review' 열에 글 없음"},
        {"row": 3, "reason": "'review' 열에 글 없음"},
    ]
    assert api["en"]["skipped"]["examples"][0] == {"row": 2, "reason": "no text in column 'review'"}
    # Stored in English too, for clients and tools that read the row.
    job.refresh_from_db()
    assert job.error_message == api["en"]["error"]["message"]

    page = html.unescape(client.get(f"/jobs/{job.pk}/", headers=KO).content.decode())
    assert "입력에 분석할 글이 없습니다." in page and "'review' 열에 글 없음" in page, page
    assert english_left(page, job=job) == []
    assert "all 2 rows were skipped" in client.get(f"/jobs/{job.pk}/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_skipped_rows_reason_has_its_numbers_formatted_and_the_download_note_follows_the_reader(
    sentimeter_settings,
):
    sentimeter_settings["MAX_TEXT_CHARS"] = 1000
    client = browser()
    data = b"review\nI love it, it is wonderful.\n" + b"x" * 1234 + b"\n"
    upload = SimpleUploadedFile("reviews.csv", data, "text/csv")
    job = Job.objects.get(
        pk=client.post("/api/jobs/", {"file": upload}, headers=csrf_headers(client)).json()["id"]
    )

    tasks.job_run(str(job.pk))

    api = {language: r.json() for language, r in _say_both(client, f"/api/jobs/{job.pk}/").items()}
    assert api["ko"]["status"] == "succeeded"
    assert api["ko"]["skipped"]["examples"] == [{"row": 3, "reason": "1,234자로, 최대 1,000자를 넘음"}]
    assert api["en"]["skipped"]["examples"] == [
        {"row": 3, "reason": "1,234 characters, over the limit of 1,000"}
    ]
    csv = {
        language: r.getvalue().decode()
        for language, r in _say_both(client, f"/api/jobs/{job.pk}/results.csv").items()
    }
    assert csv["ko"].splitlines()[-1].endswith('"1,234자로, 최대 1,000자를 넘음"')
    assert "1,234 characters, over the limit of 1,000" in csv["en"]
    page = client.get(f"/jobs/{job.pk}/", headers=KO).content.decode()
    assert "1,234자로, 최대 1,000자를 넘음" in page


def test_a_language_warning_is_said_in_the_readers_language(client, db):
    job = make_job(
        session_key=owner_session(client),
        texts=["이 제품 정말 좋아요", "배송이 너무 늦었어요", "최고의 선택이에요"],
    )
    pipeline.job_process(job.pk)

    said = {
        language: r.json()["warnings"] for language, r in _say_both(client, f"/api/jobs/{job.pk}/").items()
    }

    assert said["ko"] == [
        {
            "code": "language_unread",
            "message": "이 글의 100%는 한국어로 보이지만, VADER (영어, 빠름) 분석기는 영어만 "
            "읽습니다. 그래서 이 글들의 점수와 이 작업의 요약은 큰 의미가 없습니다. "
            "다국어 (정확) 분석기로 다시 제출하세요.",
        }
    ]
    assert said["en"] == [
        {
            "code": "language_unread",
            "message": "100% of these texts look Korean, but VADER (English, fast) reads only English, "
            "so its scores for them, and this job's summary, mean little. Submit them again with the "
            "Multilingual (accurate) analyzer.",
        }
    ]
    page = client.get(f"/jobs/{job.pk}/", headers=KO).content.decode()
    assert "이 글의 100%는 한국어로 보이지만" in page


def test_what_was_stored_before_messages_had_templates_is_shown_as_it_was(korean):
    job = make_job(
        session_key=owner_session(korean),
        status="failed",
        error_code="no_texts",
        error_message="There is no text to analyze in the input.",
        skipped=1,
        skipped_examples=[{"row": 2, "reason": "no text in column 'review'"}],
        warnings=[{"code": "language_unread", "message": "Most of these texts look Korean."}],
    )

    body = korean.get(f"/api/jobs/{job.pk}/").json()

    assert body["error"]["message"] == "There is no text to analyze in the input."
    assert body["skipped"]["examples"] == [{"row": 2, "reason": "no text in column 'review'"}]
    assert body["warnings"] == [{"code": "language_unread", "message": "Most of these texts look Korean."}]


def test_the_tokens_and_login_pages_in_korean_have_no_english_left(korean):
    made = korean.post("/tokens/", {"name": "야간 가져오기"})
    assert made.status_code == 200
    html = made.content.decode()
    assert "토큰 “야간 가져오기”을(를) 만들었습니다" in html
    assert english_left(html) == []
    refused = korean.post("/tokens/", {"name": " "}).content.decode()
    assert "토큰 이름을 정하세요(예: 야간 가져오기)." in refused
    assert english_left(refused) == []

    login = korean.get("/accounts/login/").content.decode()
    assert "로그인" in login
    assert english_left(login) == []
    failed = korean.post("/accounts/login/", {"username": "nobody", "password": "wrong"}).content.decode()
    assert english_left(failed) == []


@pytest.mark.parametrize(
    ("handler", "heading", "said"),
    [
        (errors.bad_request, "잘못된 요청", "요청을 이해할 수 없습니다"),
        (errors.permission_denied, "허용되지 않음", "권한이 없습니다."),
        (errors.server_error, "서버 오류", None),
    ],
)
def test_a_pages_error_is_in_the_readers_language(db, rf, handler, heading, said):
    request = rf.get("/jobs/", headers={"accept-language": "ko-KR"})
    request.user = AnonymousUser()
    with translation.override("ko"):
        response = handler(request) if handler is errors.server_error else handler(request, None)
        page = response.content.decode()
    english = handler(request) if handler is errors.server_error else handler(request, None)

    assert heading in page
    assert said is None or said in page
    assert english_left(page) == []
    assert heading not in english.content.decode()


def test_a_pages_csrf_refusal_says_what_is_missing_in_korean(db):
    client = Client(enforce_csrf_checks=True, **KOREAN)

    response = client.post("/tokens/", {"name": "야간"})

    page = response.content.decode()
    assert response.status_code == 403
    assert "허용되지 않음" in page
    assert "CSRF 확인에 실패했습니다" in page
    assert "CSRF verification failed" not in page
