#!/usr/bin/env python3
"""Analyze a CSV (or TSV, Excel, text, JSON Lines) file with Sentimeter's API and save the results as CSV.

Python 3.10+, standard library only. Make a token on your deploy's /tokens/ page, then:

    export SENTIMETER_URL=https://<your-app>.herokuapp.com SENTIMETER_TOKEN=smt_...
    python examples/analyze.py reviews.csv --column review -o results.csv

It submits the file, polls the job as often as its Retry-After says (also when the
submit is refused for a while: 429, 503), and downloads every result. Exit status:
0 when the job succeeded, 1 when it failed or was canceled (what it analyzed is
still saved), 2 when the API refused the request (the message says why).
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import random
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urljoin

FINAL = ("succeeded", "failed", "canceled")
# Waiting exactly Retry-After makes many clients poll in step; spread it a little.
JITTER = 0.2
# Past this many refusals of the submit (each waited out), give up.
MAX_SUBMIT_TRIES = 10


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after: float | None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.retry_after = status, code, retry_after


class Client:
    def __init__(self, base_url: str, token: str, *, timeout: float = 60) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError(
                f"the URL must start with https:// (or http:// for a local run), not {base_url!r}"
            )
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": "sentimeter-example/1"}
        self.timeout = timeout

    def request(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None):
        """Send one request; return (response, its Retry-After in seconds or None). Raise ApiError."""
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        url = urljoin(self.base_url, path)  # http(s) only: checked in __init__
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310 - http(s) only
        except urllib.error.HTTPError as exc:
            retry_after = _seconds(exc.headers.get("Retry-After"))
            try:
                error = json.loads(exc.read())["error"]
                code, message = error["code"], error["message"]
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", exc.reason
            raise ApiError(exc.code, code, message, retry_after) from None
        return response, _seconds(response.headers.get("Retry-After"))

    def json(self, method: str, path: str, **kwargs) -> tuple[dict, float | None]:
        response, retry_after = self.request(method, path, **kwargs)
        with response:
            return json.loads(response.read()), retry_after


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def _wait(seconds: float, why: str) -> None:
    seconds *= 1 + JITTER * (2 * random.random() - 1)  # noqa: S311 - not for security
    print(f"{why}: waiting {seconds:.1f} s", file=sys.stderr)
    time.sleep(seconds)


def multipart(fields: dict[str, str], file: Path) -> tuple[bytes, str]:
    """Encode form fields and one file as multipart/form-data; return the body and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file.name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n".encode()
    )
    parts.append(file.read_bytes())
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit(client: Client, file: Path, fields: dict[str, str]) -> tuple[dict, float | None]:
    """Submit the file; wait out 429 and 503 as long as their Retry-After says.

    Return the job and the seconds to wait before asking about it.
    """
    body, content_type = multipart(fields, file)
    for _ in range(MAX_SUBMIT_TRIES):
        try:
            return client.json("POST", "api/jobs/", body=body, content_type=content_type)
        except ApiError as exc:
            if exc.status not in (429, 503) or exc.retry_after is None:
                raise
            _wait(exc.retry_after, f"not accepted yet ({exc.code})")
    raise ApiError(503, "gave_up", f"the submit was refused {MAX_SUBMIT_TRIES} times", None)


def wait_until_final(client: Client, job: dict, retry_after: float) -> dict:
    """Poll the job, each time after the Retry-After it answered, until it has ended."""
    while job["status"] not in FINAL:
        progress = job["progress"]
        total = progress["total"] if progress["total"] is not None else "?"
        _wait(retry_after, f"{job['status']} {progress['done']}/{total}")
        job, next_wait = client.json("GET", job["links"]["self"])
        retry_after = next_wait if next_wait is not None else retry_after
    return job


def download(client: Client, job: dict, output: Path) -> int:
    """Save every result as CSV; return the number of rows."""
    response, _ = client.request("GET", job["links"]["csv"])
    rows = 0
    with response, output.open("wb") as out:
        while chunk := response.read(64 * 1024):
            out.write(chunk)
            rows += chunk.count(b"\n")
    return rows - 1  # the header


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="CSV, TSV, Excel .xlsx, text (one per line) or JSON Lines")
    parser.add_argument("--column", help="the column (or JSON field) holding the text")
    parser.add_argument("--analyzer", help="see GET /api/analyzers/ (default: the deploy's)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="where to save the results (default: <file>.results.csv)",
    )
    parser.add_argument("--url", default=os.environ.get("SENTIMETER_URL"), help="default: $SENTIMETER_URL")
    args = parser.parse_args(argv)
    token = os.environ.get("SENTIMETER_TOKEN")
    if not args.url or not token:
        parser.error("set SENTIMETER_URL (or --url) and SENTIMETER_TOKEN (made on the /tokens/ page)")
    try:
        client = Client(args.url, token)
    except ValueError as exc:
        parser.error(str(exc))
    fields = {name: value for name, value in (("column", args.column), ("analyzer", args.analyzer)) if value}
    output = args.output or args.file.with_name(args.file.name + ".results.csv")
    try:
        job, retry_after = submit(client, args.file, fields)
        print(f"submitted job {job['id']}", file=sys.stderr)
        job = wait_until_final(client, job, retry_after or 1.0)
        rows = download(client, job, output)
    except ApiError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except (urllib.error.URLError, TimeoutError) as exc:
        print(f"could not reach {args.url}: {exc}", file=sys.stderr)
        return 2
    summary = job["summary"] or {}
    print(
        f"{job['status']}: {rows} results in {output} "
        f"({summary.get('positive', 0)} positive, {summary.get('neutral', 0)} neutral, "
        f"{summary.get('negative', 0)} negative)",
        file=sys.stderr,
    )
    if job["status"] != "succeeded":
        error = job["error"] or {}
        print(f"the job {job['status']}: {error.get('message', '')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
