"""Shortened texts end at a word or line, and say how much they left out."""

from __future__ import annotations

from eg_harness.runtime.text import clip, first_line

DROPPED = (
    "the gateway at http://127.0.0.1:1/api/kernels/k/channels dropped the connection without "
    "a close frame, with no message in flight, 12.0s after the last message received"
)


def test_a_text_that_fits_is_whole():
    assert clip("short", 10) == "short"
    assert clip("", 0) == ""


def test_a_long_text_ends_at_a_word_and_counts_the_rest():
    out = clip(DROPPED, 120)
    kept, marker = out.split("… (")
    assert DROPPED.startswith(kept)
    assert DROPPED[len(kept)] == " "  # the next character of the original is a blank
    assert not kept.endswith(" in f")  # the old cut, mid-word
    assert marker == f"{len(DROPPED) - len(kept)} more characters)"


def test_the_cut_prefers_a_line_end():
    text = "first line of the failure\nsecond line that is long enough to be cut away"
    assert clip(text, 40) == f"first line of the failure… ({len(text) - 25} more characters)"


def test_a_cut_right_before_a_blank_keeps_the_whole_word():
    assert clip("alpha beta gamma", 10) == "alpha beta… (6 more characters)"


def test_one_word_longer_than_the_limit_is_cut_inside_it():
    assert clip("x" * 30, 10) == "x" * 10 + "… (20 more characters)"


def test_first_line_counts_the_lines_it_leaves_out():
    assert first_line("one\ntwo", 50) == "one… (4 more characters)"
    assert first_line("one", 50) == "one"
    long = "word " * 20 + "\nmore"
    out = first_line(long, 20)
    assert out.startswith("word word word word… (")
    assert out.endswith(f"({len(long) - len('word word word word')} more characters)")
