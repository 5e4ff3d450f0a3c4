"""Memory and time of the Korean terms of "What drives it" (worker/morphemes.py, MeCab-ko).

Run it from the project root (a fresh process each time, so its memory is the tokenizer's alone):

    .venv/bin/python tests/benchmarks/bench_korean_terms.py [--texts 5000]

It takes our Korean development and training texts (tests/data/sentiment/ko*.tsv,
2,830 distinct, cycled to --texts), and prints the process's resident memory
(VmRSS, split into anonymous memory and mapped files, from /proc/self/status)
before the tokenizer is loaded, after its first text and after all of them,
with the seconds each step took. The dictionary is a read-only file mapping:
its pages are shared by every process that maps it and are the first the
kernel drops under memory pressure, so RssAnon is what a process adds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from worker import drivers, morphemes  # noqa: E402

FILES = ("ko_train.tsv", "ko_train2.tsv", "ko.tsv", "ko_test.tsv", "ko_long.tsv")


def korean_texts(n: int) -> list[str]:
    texts = []
    for name in FILES:
        for line in (ROOT / "tests" / "data" / "sentiment" / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith(("#", "label\t")):
                texts.append(line.split("\t", 1)[1])
    return [texts[i % len(texts)] for i in range(n)]


def memory() -> str:
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    mb = {k: int(status[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile", "VmHWM")}
    return (
        f"RSS {mb['VmRSS']:6.1f} MB (anon {mb['RssAnon']:5.1f}, files {mb['RssFile']:5.1f}), "
        f"peak {mb['VmHWM']:6.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=5000)
    args = parser.parse_args()
    texts = korean_texts(args.texts)
    print(f"{args.texts:,} Korean texts, {sum(map(len, texts)):,} characters")
    print(f"before:       {memory()}")
    t0 = time.perf_counter()
    morphemes.terms("배송이 늦어요")
    print(f"loaded:       {memory()}  ({time.perf_counter() - t0:.2f} s)")
    t0 = time.perf_counter()
    n = sum(len(drivers.text_terms(t)) for t in texts)
    seconds = time.perf_counter() - t0
    print(f"after texts:  {memory()}  ({seconds:.2f} s, {args.texts / seconds:,.0f} texts/s, {n:,} terms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
