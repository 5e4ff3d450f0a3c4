"""Chunk sizing: pure functions from an analyzer's cost model, no Django.

A chunk is the unit of work one worker analyzes and commits at once. It
holds at most `max_texts` texts or `max_seconds` of estimated analysis (the
analyzer's CostModel), so a chunk takes about as long whatever its texts'
length and whatever the analyzer: long enough that its fixed cost (~11 ms
of reads, writes and queueing) is small, short enough that a cancel or a
single text submitted meanwhile waits little (README, Benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from worker.analyzers.base import CostModel
from worker.inputs import Row

# The last chunks of a job shrink down to max_seconds / TAIL_SHRINK (see tail_bound).
TAIL_SHRINK = 8


def chunks_of(
    rows: Iterator[Row],
    *,
    cost: CostModel,
    max_texts: int,
    bound: Callable[[float], float],
    on_skip: Callable[[Row], None],
) -> Iterator[list[Row]]:
    """Group rows with text into chunks of at most max_texts texts or bound(...) estimated seconds.

    bound() is asked again at the start of each chunk (see tail_bound), with
    the estimated seconds per unit of input of the texts so far (that of a
    one-character text before any). Rows without text go to on_skip.
    """
    chunk: list[Row] = []
    seconds, seen_chars, seen_seconds = 0.0, 0, 0.0
    limit = bound(cost.seconds_for(1))
    for row in rows:
        if row.text is None:
            on_skip(row)
            continue
        chunk.append(row)
        text_seconds = cost.seconds(row.text)
        seconds += text_seconds
        seen_chars += len(row.text)
        # A sum of floats may fall a hair short of the same bound written as a product.
        if len(chunk) >= max_texts or seconds >= limit * (1 - 1e-9):
            seen_seconds += seconds
            yield chunk
            chunk, seconds = [], 0.0
            limit = bound(seen_seconds / seen_chars if seen_chars else cost.seconds_for(1))
    if chunk:
        yield chunk


def tail_bound(max_seconds: float, *, unread: Callable[[], int], workers: int) -> Callable[[float], float]:
    """The seconds a chunk may hold: max_seconds, less near the end of the input.

    With several workers, the last chunks of a job would otherwise leave all
    but one of them idle while it analyzes the last full chunk (about half a
    chunk lost per worker on average). Near the end each chunk is cut to a
    share of what is left, unread / (2 x workers) (guided self-scheduling;
    unread characters or bytes, times the seconds per character seen so far),
    down to max_seconds / TAIL_SHRINK, so the workers finish close together
    for the price of a few more, smaller chunks. One worker has no one to
    wait for: its chunks keep their size.
    """
    if workers < 2:
        return lambda per_char: max_seconds
    floor = max_seconds / TAIL_SHRINK
    return lambda per_char: max(floor, min(max_seconds, unread() * per_char / (2 * workers)))
