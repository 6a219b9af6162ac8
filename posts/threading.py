"""Split a long text into the parts of a thread, each within a network's limit as that network counts.

Networks count differently (Mastodon: graphemes with every URL as 23; Bluesky: graphemes and bytes;
Threads: UTF-8 bytes), so the splitter never measures text itself: it takes a `count` function and
asks it about whole candidate parts. `network_counter` builds that function from a channel's
adapter, so the composer and the adapters can never disagree about what fits.

Parts break at paragraph ends, then sentence ends, then between words; a word longer than a whole
part (rare: a pasted hash) is cut between graphemes, but a URL is never cut: it becomes a part of its
own, and the adapter's validation reports it if even that is too long.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grapheme

from channels.networks.base import Adapter, PartContent, PostOptions

Count = Callable[[str], int]

_WORD = re.compile(r"(\S+)(\s*)")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")

# A part that ends at a paragraph or sentence end must keep at least this share of what would fit;
# otherwise breaking at that boundary would leave a stub of a part.
_MIN_SHARE_AT_BOUNDARY = 0.5


@dataclass
class _Token:
    word: str
    gap: str  # the whitespace after the word, kept inside a part (newlines and paragraph breaks)

    @property
    def boundary(self) -> int:
        """2 after a paragraph, 1 after a sentence or a line, 0 between words of a sentence."""
        if self.gap.count("\n") >= 2:
            return 2
        if "\n" in self.gap or (self.gap and _SENTENCE_END.search(self.word)):
            return 1
        return 0


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(1), m.group(2)) for m in _WORD.finditer(text)]


def _join(tokens: Sequence[_Token]) -> str:
    if not tokens:
        return ""
    return "".join(t.word + t.gap for t in tokens[:-1]) + tokens[-1].word


def _longest_fit(tokens: list[_Token], start: int, fits: Callable[[str], bool]) -> int:
    """The largest end such that tokens[start:end] fits (start if not even one token fits).

    Exponential then binary search: a few counts per part instead of one per word.
    """
    n = len(tokens)
    if not fits(tokens[start].word):
        return start
    good, step = start + 1, 1
    bad = None
    while good < n:
        probe = min(n, good + step)
        if fits(_join(tokens[start:probe])):
            good = probe
            step *= 2
        else:
            bad = probe
            break
    if bad is None:
        return good
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(_join(tokens[start:middle])):
            good = middle
        else:
            bad = middle
    return good


def _cut_word(word: str, fits: Callable[[str], bool]) -> list[str]:
    """Cut a word that fits in no part into pieces that do, between graphemes."""
    clusters = list(grapheme.graphemes(word))
    pieces = []
    while clusters:
        low, high = 1, len(clusters)  # the first grapheme always goes, even if it alone is too long
        while low < high:
            middle = (low + high + 1) // 2
            if fits("".join(clusters[:middle])):
                low = middle
            else:
                high = middle - 1
        pieces.append("".join(clusters[:low]))
        clusters = clusters[low:]
    return pieces


def _pack(text: str, fits: Callable[[str], bool]) -> list[str]:
    tokens = _tokens(text)
    parts: list[str] = []
    start = 0
    while start < len(tokens):
        end = _longest_fit(tokens, start, fits)
        if end == start:
            word = tokens[start].word
            if _URL.match(word):
                parts.append(word)
                start += 1
                continue
            pieces = _cut_word(word, fits)
            if len(pieces) == 1:  # not even one grapheme fits: nothing to gain by cutting
                parts.append(word)
                start += 1
                continue
            parts.extend(pieces[:-1])
            tokens[start] = _Token(pieces[-1], tokens[start].gap)
            continue
        if end < len(tokens):
            end = _prefer_boundary(tokens, start, end)
        parts.append(_join(tokens[start:end]))
        start = end
    return parts


def _prefer_boundary(tokens: list[_Token], start: int, end: int) -> int:
    """Move the end of a part back to the last paragraph end, else sentence end, if that keeps enough."""
    full = len(_join(tokens[start:end]))
    for strength in (2, 1):
        for candidate in range(end, start, -1):
            if tokens[candidate - 1].boundary >= strength:
                if len(_join(tokens[start:candidate])) >= full * _MIN_SHARE_AT_BOUNDARY:
                    return candidate
                break
    return end


def split_text(text: str, limit: int, count: Count = len, *, numbering: bool = False) -> list[str]:
    """Split `text` into parts for which `count(part) <= limit`.

    With `numbering`, every part ends in " i/n", counted in. A text that fits whole comes back as
    one part, unnumbered. Whitespace between parts is dropped; whitespace inside a part is kept.
    """
    text = text.strip()
    if not text:
        return []

    def fits(piece: str) -> bool:
        return count(piece) <= limit

    if fits(text):
        return [text]
    if not numbering:
        return _pack(text, fits)
    # The label's width depends on how many parts there are: reserve room for the widest label of
    # the current estimate, and again with more digits if the split needs them.
    digits = 1
    while True:
        widest = " " + "9" * digits + "/" + "9" * digits

        def fits_numbered(piece: str, widest=widest) -> bool:
            return count(piece + widest) <= limit

        parts = _pack(text, fits_numbered)
        if len(str(len(parts))) <= digits:
            break
        digits = len(str(len(parts)))
    total = len(parts)
    return [f"{part} {number}/{total}" for number, part in enumerate(parts, start=1)]


def network_counter(adapter: Adapter, options: PostOptions) -> tuple[Count, int]:
    """How `adapter`'s network counts a part, and its limit for one part.

    An adapter that offers a fast counter (Adapter.counter) is measured with it. For the others, the
    adapter's own offline validation of a one-part post is the measure; a text it refuses for a
    reason of length that its counter does not show (bytes, a number of links) counts as one over
    the limit, so the splitter makes the part smaller.
    """
    fast = adapter.counter(options)
    if fast is not None:
        return fast

    limit = adapter.validate([PartContent(text="x")], options).usage[0].limit

    def count(text: str) -> int:
        result = adapter.validate([PartContent(text=text)], options)
        used = result.usage[0].used
        refused = any(p.level == "error" and p.field == "text" for p in result.problems)
        return max(used, limit + 1) if refused else used

    return count, limit


def split_for(text: str, counters: Sequence[tuple[Count, int]], *, numbering: bool = False) -> list[str]:
    """Split for several networks at once: every part fits the strictest of them."""
    if not counters:
        raise ValueError("Splitting needs at least one network to count for.")

    def overshoot(piece: str) -> int:
        return max(count(piece) - limit for count, limit in counters)

    return split_text(text, 0, overshoot, numbering=numbering)
