"""Analyzer benchmark: raw throughput of one analyzer on one core, no app, no database.

Calls the registered analyzer's `analyze()` (VADER by default, `--analyzer
e5` for the multilingual one) on batches of review texts, in this one
process, the way a chunk job calls it. This is the ceiling the end-to-end
benchmarks are compared with (bench_throughput.py imports `measure()` and
`review_texts()` to measure it in the same run, on the same texts).

Run it from the project root:

    .venv/bin/python tests/benchmarks/bench_analyzer.py [--texts 4000] [--repeats 5] [--parallel 2]
    .venv/bin/python tests/benchmarks/bench_analyzer.py --analyzer e5 [--threads 2] [--batch-sizes 1 8 32]

Text kinds (--kinds, default `short review long` for VADER, `short long
korean korean_long` for e5): about 15, 80 and 200 English words, generated
deterministically (random.Random(--seed)) from review-like sentence
templates: product words, sentiment words VADER knows (positive and
negative, boosters, negations, "but"), punctuation, some ALL CAPS words,
emoticons and emoji, word counts +-40 % around the target; `korean` and
`korean_long` cycle through our Korean development sets (tests/data/
sentiment/ko.tsv, ~27 characters; ko_long.tsv, ~330).

--threads N gives the e5 model N OpenMP threads (one by default, as the
worker runs it). --batch-sizes runs the `short` kind once per batch size,
each in a fresh process, and prints its texts/s and peak RSS: the memory a
worker pays for a bigger batch.

For each kind it analyzes the same --texts texts --repeats times (after one
uncounted warm-up batch) and prints the median of: texts/s and chars/s by
wall time, and texts/s by the process's CPU time (which another process on a
busy machine does not inflate; when the two differ a lot, the machine was
busy). The machine is shared: the load average is printed, compare medians.
--parallel N also runs the review kind in N processes at once and prints
their sum: what N cores of this machine really give (bench_throughput.py's
N-worker runs are bounded by it). There is no target; it always exits 0
unless it breaks.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import harness

sys.path.insert(0, str(harness.ROOT))  # `worker` is imported from the project root

KINDS = {"short": 15, "review": 80, "long": 200}  # name -> target words per text
# Kinds read from our Korean development sets: name -> file.
KOREAN_KINDS = {"korean": "ko.tsv", "korean_long": "ko_long.tsv"}
DEFAULT_KINDS = {"vader": ["short", "review", "long"], "e5": ["short", "long", "korean", "korean_long"]}

_NOUNS = [
    "product", "phone", "battery", "screen", "blender", "jacket", "hotel", "room", "pizza", "service",
    "delivery", "price", "quality", "app", "headphones", "charger", "staff", "book", "shoes", "coffee",
    "laptop", "camera", "mattress", "vacuum", "package", "seller", "manual", "update", "sound", "fit",
]  # fmt: skip
_PARTS = ["handle", "lid", "cable", "zipper", "button", "strap", "hinge", "speaker", "motor", "sole"]
_POS = [
    "great", "good", "excellent", "amazing", "perfect", "nice", "fantastic", "wonderful", "solid", "happy",
    "comfortable", "reliable", "friendly", "helpful", "awesome", "pleasant", "impressive", "lovely", "fine",
]  # fmt: skip
_NEG = [
    "bad", "terrible", "awful", "poor", "disappointing", "horrible", "broken", "useless", "cheap", "rude",
    "slow", "noisy", "ugly", "worse", "annoying", "defective", "dirty", "flimsy", "overpriced", "sad",
]  # fmt: skip
_NEUTRAL_ADJ = ["small", "big", "blue", "heavy", "light", "new", "standard", "average", "okay", "different"]
_BOOST = ["very ", "really ", "extremely ", "so ", "super ", "quite ", "incredibly ", "kind of ", "a bit "]
_POS_VERB = ["love", "like", "enjoy", "recommend", "appreciate", "adore"]
_NEG_VERB = ["hate", "dislike", "regret buying", "returned", "can't stand", "gave up on"]
_WHO = ["anyone", "my friends", "a beginner", "families", "everyone", "nobody", "my parents"]
_TIMES = ["days", "weeks", "months", "hours", "uses"]
_PUNCT = [".", ".", ".", ".", "!", "!", "!!", "?", "...", "!!!"]
_EMOJI = ["😀", "👍", "😍", "❤️", "🙂", "😡", "👎", "😞", "🙄", "😂", ":)", ":(", ":-D", ";)", "<3"]
_INTERJECTIONS = ["Wow", "Meh", "Ugh", "Yay", "Hmm", "LOL", "Seriously", "Honestly", "Well", "Sadly"]
_TEMPLATES = [
    "The {noun} is {boost}{adj}{p}",
    "I {verb} this {noun}{p}",
    "It arrived {when} and the {noun} was {boost}{adj}{p}",
    "The {noun} is {other} but the {part} is {boost}{adj}{p}",
    "Customer service was {boost}{adj} when I called about the {noun}{p}",
    "Would {not}recommend it to {who}{p}",
    "After {num} {time} the {part} {state}{p}",
    "For the price, the {noun} is {boost}{adj}{p}",
    "My {who2} {verb} it, and the {noun} looks {other}{p}",
    "Not {adj} at all{p}",
    "{interj}, the {noun} {isnt} {boost}{adj}{p}",
    "Order #{num}{num} was delivered on day {num}{p}",
    'The box says "{adj}", and the {noun} is {other}{p}',
    "The {noun} and the {part} are {other}, nothing {adj} about them{p}",
]


def _sentence(rng: random.Random, mood: float) -> str:
    positive = rng.random() < mood
    adj = rng.choice(_POS if positive else _NEG)
    if rng.random() < 0.08:
        adj = adj.upper()
    text = rng.choice(_TEMPLATES).format(
        noun=rng.choice(_NOUNS),
        part=rng.choice(_PARTS),
        adj=adj,
        other=rng.choice(_NEUTRAL_ADJ),
        boost=rng.choice(_BOOST) if rng.random() < 0.35 else "",
        verb=rng.choice(_POS_VERB if positive else _NEG_VERB),
        when=rng.choice(["late", "on time", "early", "yesterday", "in two days", "damaged"]),
        who=rng.choice(_WHO),
        who2=rng.choice(["wife", "husband", "son", "daughter", "boss", "roommate"]),
        num=rng.randint(1, 12),
        time=rng.choice(_TIMES),
        state=rng.choice(["still works", "stopped working", "broke", "feels loose", "is fine", "squeaks"]),
        interj=rng.choice(_INTERJECTIONS),
        isnt=rng.choice(["is", "isn't", "was", "wasn't", "is not", "never was"]),
        p=rng.choice(_PUNCT),
        **{"not": "" if positive else rng.choice(["not ", "never ", "NOT "])},
    )
    if rng.random() < 0.1:
        text += " " + rng.choice(_EMOJI)
    return text


def review_text(rng: random.Random, words: int) -> str:
    """One review of about `words` words (+-40 %), with a mood that colours its sentences."""
    target = max(3, round(words * rng.uniform(0.6, 1.4)))
    mood = rng.choice([0.15, 0.5, 0.85])
    sentences: list[str] = []
    count = 0
    while count < target:
        sentence = _sentence(rng, mood)
        sentences.append(sentence)
        count += sentence.count(" ") + 1
    text = " ".join(sentences)
    if count > target:  # trim the last sentence down to the target word count
        text = " ".join(text.split(" ")[:target])
    return text


def review_texts(n: int, words: int, *, seed: int = 42) -> list[str]:
    """n deterministic review texts of about `words` words each."""
    rng = random.Random(f"{seed}:{words}")  # noqa: S311 - test data, not security
    return [review_text(rng, words) for _ in range(n)]


def korean_texts(n: int, filename: str) -> list[str]:
    """n Korean texts, cycling through one of our development sets."""
    path = harness.ROOT / "tests" / "data" / "sentiment" / filename
    lines = path.read_text(encoding="utf-8").splitlines()
    texts = [line.split("\t", 1)[1] for line in lines if line and not line.startswith(("#", "label\t"))]
    return [texts[i % len(texts)] for i in range(n)]


def kind_texts(kind: str, n: int, *, seed: int) -> list[str]:
    """n texts of a kind (KINDS or KOREAN_KINDS)."""
    if kind in KOREAN_KINDS:
        return korean_texts(n, KOREAN_KINDS[kind])
    return review_texts(n, KINDS[kind], seed=seed)


def analyzer_load(name: str, *, threads: int = 1):
    """A fresh instance of the named analyzer (e5 with `threads` OpenMP threads)."""
    from worker.analyzers.e5 import E5Analyzer
    from worker.analyzers.registry import spec_get

    if name == "e5":
        return E5Analyzer(threads=threads)
    return spec_get(name).load()


@dataclass
class Measurement:
    """Repeated analyze() runs over the same texts."""

    texts: int
    chars: int
    walls: list[float]  # seconds per repeat, wall clock
    cpus: list[float]  # seconds per repeat, this process's CPU time

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.wall

    @property
    def chars_per_s(self) -> float:
        return self.chars / self.wall

    @property
    def cpu_texts_per_s(self) -> float:
        return self.texts / statistics.median(self.cpus)

    def merged(self, other: Measurement) -> Measurement:
        """Both measurements' repeats pooled (same texts)."""
        return Measurement(self.texts, self.chars, self.walls + other.walls, self.cpus + other.cpus)


def measure(texts: Sequence[str], *, repeats: int = 5, batch: int = 1000, analyzer=None) -> Measurement:
    """Time analyzer.analyze() over `texts` in batches of `batch`, `repeats` times (one warm-up first).

    One process, one thread: the figure is what one core does. The analyzer is
    loaded once, before timing, as a worker's analyzers_preload() does.
    """
    analyzer = analyzer or analyzer_load("vader")
    batches = [list(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    analyzer.analyze(batches[0])  # warm-up, uncounted
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        for chunk in batches:
            analyzer.analyze(chunk)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return Measurement(texts=len(texts), chars=sum(map(len, texts)), walls=walls, cpus=cpus)


def _measure_child(texts: Sequence[str], repeats: int, batch: int, barrier, results, name: str) -> None:
    analyzer = analyzer_load(name)
    barrier.wait()  # all processes load first, then start together
    m = measure(texts, repeats=repeats, batch=batch, analyzer=analyzer)
    results.put((m.walls, m.cpus))


def measure_parallel(
    texts: Sequence[str], *, processes: int, repeats: int = 5, batch: int = 1000, name: str = "vader"
) -> list[Measurement]:
    """measure() in `processes` processes at once: what the machine gives N cores' worth of VADER.

    On a machine with N free cores the sum of their texts/s is N x one process's; less means the
    cores are shared (other work, or a hypervisor that steals time from the virtual CPUs).
    """
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_measure_child, args=(texts, repeats, batch, barrier, results, name))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    try:
        out = [results.get(timeout=3600) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    chars = sum(map(len, texts))
    return [Measurement(texts=len(texts), chars=chars, walls=walls, cpus=cpus) for walls, cpus in out]


def describe(texts: Sequence[str]) -> str:
    words = [t.count(" ") + 1 for t in texts]
    chars = [len(t) for t in texts]
    return (
        f"{len(texts)} texts, words median {statistics.median(words):g} "
        f"({min(words)}-{max(words)}), chars median {statistics.median(chars):g}"
    )


def row(label: str, m: Measurement) -> str:
    spread = f"{min(m.walls):.3f}-{max(m.walls):.3f}"
    digits = 1 if m.texts_per_s < 100 else 0  # the model's tens of texts a second, VADER's thousands
    return (
        f"{label:<22}{m.texts_per_s:>11,.{digits}f}{m.chars_per_s:>13,.0f}{m.cpu_texts_per_s:>13,.{digits}f}"
        f"   {m.wall:.3f} s ({spread})"
    )


HEADER = f"{'':<22}{'texts/s':>11}{'chars/s':>13}{'cpu texts/s':>13}   wall per repeat, median (min-max)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyzer", default="vader", choices=["vader", "e5"], help="(default vader)")
    parser.add_argument("--texts", type=int, default=None, help="texts per repeat and kind (4000; e5: 64)")
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per kind (5; e5: 3)")
    parser.add_argument("--batch", type=int, default=None, help="texts per analyze() call (its batch_size)")
    parser.add_argument("--seed", type=int, default=42, help="text generator seed (default 42)")
    parser.add_argument("--kinds", nargs="+", choices=[*KINDS, *KOREAN_KINDS], help="text kinds")
    parser.add_argument("--threads", type=int, default=1, help="the e5 model's OpenMP threads (default 1)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="also run the review kind (e5: short) in N processes at once, to see what N cores give",
    )
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", help="measure the short kind at these batch sizes: texts/s, RSS"
    )
    args = parser.parse_args(argv)
    from worker.analyzers.registry import spec_get

    slow = args.analyzer == "e5"
    args.texts = args.texts or (64 if slow else 4000)
    args.repeats = args.repeats or (3 if slow else 5)
    args.batch = args.batch or spec_get(args.analyzer).batch_size
    args.kinds = args.kinds or DEFAULT_KINDS[args.analyzer]
    if args.texts < 1 or args.repeats < 1 or args.batch < 1 or args.threads < 1:
        parser.error("--texts, --repeats, --batch and --threads must be >= 1")
    return args


def _batch_size_child(args: argparse.Namespace, batch: int, results) -> None:
    analyzer = analyzer_load(args.analyzer, threads=args.threads)
    texts = kind_texts("short", args.texts, seed=args.seed)
    m = measure(texts, repeats=args.repeats, batch=batch, analyzer=analyzer)
    results.put((m.walls, m.cpus, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def batch_sizes(args: argparse.Namespace) -> None:
    """The short kind at each batch size, each in a fresh process: texts/s and peak RSS."""
    ctx = multiprocessing.get_context("spawn")
    print(f"\nbatch size vs speed and memory (short kind, {args.texts} texts, fresh process each)")
    for batch in args.batch_sizes:
        results = ctx.Queue()
        child = ctx.Process(target=_batch_size_child, args=(args, batch, results))
        child.start()
        walls, cpus, rss_kb = results.get(timeout=3600)
        child.join(timeout=10)
        m = Measurement(texts=args.texts, chars=0, walls=walls, cpus=cpus)
        print(f"  batch {batch:>4}: {m.texts_per_s:>9,.1f} texts/s, cpu {m.cpu_texts_per_s:>9,.1f} texts/s, "
              f"peak RSS {rss_kb / 1024:.0f} MiB", flush=True)  # fmt: skip


def bench(args: argparse.Namespace) -> None:
    print(f"Sentimeter analyzer benchmark ({args.analyzer}.analyze, one process, threads={args.threads})")
    print(harness.machine_line())
    print(f"parameters: texts={args.texts} repeats={args.repeats} batch={args.batch} seed={args.seed}")
    analyzer = analyzer_load(args.analyzer, threads=args.threads)
    results = {}
    for kind in args.kinds:
        texts = kind_texts(kind, args.texts, seed=args.seed)
        label = f"{kind} (~{KINDS[kind]} words)" if kind in KINDS else kind
        print(f"{label}: {describe(texts)}; e.g. {texts[0][:100]!r}", flush=True)
        results[label] = measure(texts, repeats=args.repeats, batch=args.batch, analyzer=analyzer)
    print(f"\n{HEADER}")
    for label, m in results.items():
        print(row(label, m))
    if args.parallel > 1:
        kind = "short" if args.analyzer == "e5" else "review"
        texts = kind_texts(kind, args.texts, seed=args.seed)
        single = measure(texts, repeats=args.repeats, batch=args.batch, analyzer=analyzer)
        ms = measure_parallel(
            texts, processes=args.parallel, repeats=args.repeats, batch=args.batch, name=args.analyzer
        )
        total = sum(m.texts_per_s for m in ms)
        print(
            f"\n{kind} kind in {args.parallel} processes at once: {total:,.1f} texts/s together"
            f" = {total / single.texts_per_s:.2f}x one process ({single.texts_per_s:,.1f}) "
            f"(each: {', '.join(f'{m.texts_per_s:,.1f}' for m in ms)}; cpu texts/s each: "
            f"{', '.join(f'{m.cpu_texts_per_s:,.1f}' for m in ms)})"
        )
    if args.batch_sizes:
        batch_sizes(args)
    print(f"\nloadavg at the end: {harness.loadavg()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
