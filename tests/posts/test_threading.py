"""Splitting long texts into threads, measured the way each network counts.

The property tests run the splitter over many random texts (seeded, so a failure repeats) and check
what a reader would notice: every part fits its network, and reading the parts in order gives back
the words of the text, none lost, none cut, none moved.
"""

import random
import re

import grapheme
import pytest

from channels.networks.base import Account, PartContent, PostOptions
from channels.networks.bluesky.adapter import BlueskyAdapter
from channels.networks.mastodon.adapter import MastodonAdapter
from channels.networks.mastodon.rules import status_length
from channels.networks.threads.adapter import ThreadsAdapter
from channels.networks.threads.rules import links_in
from posts.threading import network_counter, split_for, split_text

FAMILY = "👨‍👩‍👧‍👦"  # one grapheme, 25 UTF-8 bytes
VOCABULARY = [
    "the", "launch", "schedule", "café", "naïve", "Grüße", "👍🏽", FAMILY, "日本語", "#fediverse",
    "@alice@example.social", "@bob.bsky.social", "ok.", "really?", "yes!", "end…", "(aside)",
]  # fmt: skip


def account(network: str, **limits) -> Account:
    return Account(
        network=network,
        remote_id="1",
        handle="someone",
        server_url="https://example.org",
        credentials={},
        limits=limits,
    )


def mastodon(**limits):
    return MastodonAdapter(account("mastodon", **limits))


def bluesky():
    return BlueskyAdapter(account("bluesky"))


def threads():
    return ThreadsAdapter(account("threads"))


def random_text(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        roll = rng.random()
        if roll < 0.08:
            out.append("https://example.org/" + "".join(rng.choices("abcdefgh/-", k=rng.randint(5, 60))))
        else:
            out.append(rng.choice(VOCABULARY))
        out.append(rng.choice([" ", " ", " ", " ", "  ", "\n", "\n\n"]))
    return "".join(out)


def unnumbered(parts: list[str]) -> list[str]:
    return [re.sub(r" \d+/\d+$", "", part) for part in parts]


# --- behaviour -----------------------------------------------------------------------------------


def test_it_keeps_a_text_that_fits_in_one_part():
    assert split_text("  Short and sweet.  ", 50) == ["Short and sweet."]
    assert split_text("Short and sweet.", 50, numbering=True) == ["Short and sweet."]
    assert split_text("   ", 50) == []


def test_it_breaks_at_the_end_of_a_sentence_rather_than_between_words():
    text = "The first sentence is here. The second one is a little longer than that."
    assert split_text(text, 50) == [
        "The first sentence is here.",
        "The second one is a little longer than that.",
    ]


def test_it_prefers_the_end_of_a_paragraph():
    text = "One. Two three four.\n\nFive six. Seven eight nine ten eleven."
    assert split_text(text, 40) == ["One. Two three four.", "Five six. Seven eight nine ten eleven."]


def test_it_does_not_leave_a_stub_to_reach_a_sentence_end():
    text = "Hi. " + "word " * 30
    parts = split_text(text, 60)
    assert parts[0].startswith("Hi. word")  # not "Hi." alone
    assert all(len(p) <= 60 for p in parts)


def test_it_keeps_newlines_inside_a_part():
    assert (
        split_text("Line one\nline two and more\n\nline " + "x " * 30, 40)[0] == "Line one\nline two and more"
    )


def test_it_never_cuts_a_url():
    url = "https://example.org/" + "a" * 80
    parts = split_text(f"Read this {url} now please", 40)
    assert url in parts
    assert " ".join(parts).split() == ["Read", "this", url, "now", "please"]


def test_it_cuts_a_word_longer_than_a_part_between_graphemes():
    word = "🇩🇪" * 30  # flags are two code points each
    parts = split_text(word, 20, count=grapheme.length)
    assert "".join(parts) == word
    assert all(grapheme.length(p) <= 20 for p in parts)
    assert all(len(p) % 2 == 0 for p in parts)  # whole flags only: no flag split in half


def test_it_numbers_the_parts_within_the_limit():
    text = " ".join(["word"] * 200)
    parts = split_text(text, 30, numbering=True)
    assert parts[0].endswith(f" 1/{len(parts)}") and parts[-1].endswith(f" {len(parts)}/{len(parts)}")
    assert len(parts) >= 10  # two-digit labels were reserved
    assert all(len(p) <= 30 for p in parts)
    assert " ".join(unnumbered(parts)).split() == text.split()


def test_it_counts_mastodon_urls_as_23():
    url = "https://example.org/" + "b" * 200
    text = " ".join([url] * 10)
    count, limit = network_counter(mastodon(max_characters=100), PostOptions())
    parts = split_text(text, limit, count)
    assert [p.count("https://") for p in parts] == [4, 4, 2]  # 4 URLs = 4 x 23 + 3 spaces = 95
    assert all(status_length(p) <= 100 for p in parts)


def test_it_counts_the_content_warning_on_mastodon():
    count, limit = network_counter(mastodon(max_characters=50), PostOptions(content_warning="x" * 20))
    parts = split_text(" ".join(["abcd"] * 20), limit, count)
    assert all(len(p) + 20 <= 50 for p in parts)
    assert max(len(p) for p in parts) > 25  # and nothing smaller than it has to be


def test_it_respects_bluesky_bytes_as_well_as_graphemes():
    count, limit = network_counter(bluesky(), PostOptions())
    assert limit == 300
    text = " ".join([FAMILY] * 400)  # 799 graphemes, about 10,000 bytes
    parts = split_text(text, limit, count)
    assert all(len(p.encode()) <= 3000 and grapheme.length(p) <= 300 for p in parts)
    assert len(parts) == 4  # 3000 bytes hold 115 families with their spaces, far from 300 graphemes


def test_it_keeps_threads_parts_to_five_links():
    count, limit = network_counter(threads(), PostOptions())
    text = " ".join(f"https://site{n}.example/" for n in range(12))
    parts = split_text(text, limit, count)
    assert [len(links_in(p)) for p in parts] == [5, 5, 2]


def test_it_fits_the_strictest_of_several_networks():
    options = PostOptions()
    counters = [network_counter(mastodon(), options), network_counter(bluesky(), options)]
    text = " ".join(["Grüße"] * 200)
    parts = split_for(text, counters)
    assert all(grapheme.length(p) <= 300 for p in parts)
    assert max(grapheme.length(p) for p in parts) > 290
    with pytest.raises(ValueError):
        split_for(text, [])


# --- properties ----------------------------------------------------------------------------------


NETWORKS = {
    "plain": lambda: (len, None),
    "mastodon": lambda: network_counter(mastodon(max_characters=120), PostOptions(content_warning="cw")),
    "bluesky": lambda: network_counter(bluesky(), PostOptions()),
    "threads": lambda: network_counter(threads(), PostOptions()),
}


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("numbering", [False, True], ids=["plain", "numbered"])
def test_every_part_fits_and_the_words_come_back_in_order(network, numbering):
    rng = random.Random(f"{network}-{numbering}")
    count, limit = NETWORKS[network]()
    for _ in range(25):
        text = random_text(rng, rng.randint(1, 200))
        this_limit = limit if limit is not None else rng.randint(100, 400)  # a URL always fits
        parts = split_text(text, this_limit, count, numbering=numbering)
        assert parts, text
        for part in parts:
            assert count(part) <= this_limit, (network, part)
            assert part == part.strip()
        words = " ".join(unnumbered(parts) if numbering else parts).split()
        assert words == text.split()
        if numbering and len(parts) > 1:
            assert [p.rsplit(" ", 1)[1] for p in parts] == [
                f"{i}/{len(parts)}" for i in range(1, len(parts) + 1)
            ]


def test_the_adapters_agree_that_every_part_fits():
    rng = random.Random("adapters")
    options = PostOptions()
    for adapter in (mastodon(max_characters=200), bluesky(), threads()):
        count, limit = network_counter(adapter, options)
        for _ in range(15):
            parts = split_text(random_text(rng, rng.randint(50, 300)), limit, count)
            result = adapter.validate([PartContent(text=p) for p in parts], options)
            assert result.ok, [p.message for p in result.errors]
