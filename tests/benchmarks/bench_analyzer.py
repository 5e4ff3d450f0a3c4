"""Analyzer benchmark: raw VADER throughput on one core, no app, no database.

Calls `worker.analyzers.VaderAnalyzer().analyze()` on batches of generated
review texts, in this one process (VADER is pure Python: one thread, one
core), the way a chunk job calls it. This is the ceiling the end-to-end
benchmarks are compared with (bench_throughput.py imports `measure()` and
`review_texts()` to measure it in the same run, on the same texts).

Run it from the project root:

    .venv/bin/python tests/benchmarks/bench_analyzer.py [--texts 4000] [--repeats 5] [--parallel 2]

Text kinds (--kinds, default `short review long`): about 15, 80 and 200
words. Texts are generated deterministically (random.Random(--seed)) from
review-like sentence templates: product words, sentiment words VADER knows
(positive and negative, boosters, negations, "but"), punctuation, some ALL
CAPS words, emoticons and emoji. Word counts vary +-40 % around the target.

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
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import harness

sys.path.insert(0, str(harness.ROOT))  # `worker` is imported from the project root

KINDS = {"short": 15, "review": 80, "long": 200}  # name -> target words per text

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
    from worker.analyzers import VaderAnalyzer

    analyzer = analyzer or VaderAnalyzer()
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


def _measure_child(texts: Sequence[str], repeats: int, batch: int, barrier, results) -> None:
    from worker.analyzers import VaderAnalyzer

    analyzer = VaderAnalyzer()
    barrier.wait()  # all processes load first, then start together
    m = measure(texts, repeats=repeats, batch=batch, analyzer=analyzer)
    results.put((m.walls, m.cpus))


def measure_parallel(
    texts: Sequence[str], *, processes: int, repeats: int = 5, batch: int = 1000
) -> list[Measurement]:
    """measure() in `processes` processes at once: what the machine gives N cores' worth of VADER.

    On a machine with N free cores the sum of their texts/s is N x one process's; less means the
    cores are shared (other work, or a hypervisor that steals time from the virtual CPUs).
    """
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    children = [
        ctx.Process(target=_measure_child, args=(texts, repeats, batch, barrier, results))
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
    return (
        f"{label:<22}{m.texts_per_s:>11,.0f}{m.chars_per_s:>13,.0f}{m.cpu_texts_per_s:>13,.0f}"
        f"   {m.wall:.3f} s ({spread})"
    )


HEADER = f"{'':<22}{'texts/s':>11}{'chars/s':>13}{'cpu texts/s':>13}   wall per repeat, median (min-max)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000, help="texts per repeat and kind (default 4000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per kind (default 5)")
    parser.add_argument("--batch", type=int, default=1000, help="texts per analyze() call (default 1000)")
    parser.add_argument("--seed", type=int, default=42, help="text generator seed (default 42)")
    parser.add_argument(
        "--kinds", nargs="+", choices=list(KINDS), default=list(KINDS), help="text kinds (default: all)"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="also run the review kind in N processes at once, to see what N cores give (default: off)",
    )
    args = parser.parse_args(argv)
    if args.texts < 1 or args.repeats < 1 or args.batch < 1:
        parser.error("--texts, --repeats and --batch must be >= 1")
    return args


def bench(args: argparse.Namespace) -> None:
    print("Sentimeter analyzer benchmark (VaderAnalyzer.analyze, one process, one core)")
    print(harness.machine_line())
    print(f"parameters: texts={args.texts} repeats={args.repeats} batch={args.batch} seed={args.seed}")
    results = {}
    for kind in args.kinds:
        texts = review_texts(args.texts, KINDS[kind], seed=args.seed)
        print(f"{kind} (~{KINDS[kind]} words): {describe(texts)}; e.g. {texts[0][:100]!r}", flush=True)
        results[kind] = measure(texts, repeats=args.repeats, batch=args.batch)
    print(f"\n{HEADER}")
    for kind, m in results.items():
        print(row(f"{kind} (~{KINDS[kind]} words)", m))
    if args.parallel > 1:
        texts = review_texts(args.texts, KINDS["review"], seed=args.seed)
        ms = measure_parallel(texts, processes=args.parallel, repeats=args.repeats, batch=args.batch)
        total = sum(m.texts_per_s for m in ms)
        single = results.get("review")
        scale = f" = {total / single.texts_per_s:.2f}x one process" if single else ""
        print(
            f"\nreview kind in {args.parallel} processes at once: {total:,.0f} texts/s together{scale} "
            f"(each: {', '.join(f'{m.texts_per_s:,.0f}' for m in ms)}; cpu texts/s each: "
            f"{', '.join(f'{m.cpu_texts_per_s:,.0f}' for m in ms)})"
        )
    print(f"\nloadavg at the end: {harness.loadavg()}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.run_main(lambda: bench(args))


if __name__ == "__main__":
    sys.exit(main())
