"""Words, sentences and clauses of a reply, for matching phrases on word boundaries.

A reply becomes a list of word tokens, each with its place in the original text (so evidence is
quoted verbatim), its sentence and its clause. Matching on tokens instead of substrings is what
keeps "as an ai" out of "as an airline" and "i will not" out of "i will note".

Normalisation, so one phrase covers its spellings:

* lower case; curly quotes count as straight ones;
* contractions are expanded: "can't" and "cannot" -> "can not", "won't" -> "will not",
  "isn't" -> "is not", "I'm" -> "i am", "it's" -> "it is", "you're" -> "you are"; a possessive
  "'s" is dropped ("Gandalf's" -> "gandalf");
* hyphens split words ("mix-up" -> "mix up"), so a phrase written with a space matches both;
* numbers stay whole ("1,000" -> "1000", "0.999", "2/3", "50/50"); number words up to twenty
  and the tens become digits ("six" -> "6"), so "six years" and "6 years" are the same answer
  ("one" stays a word: "the one you mean" is not the number 1).

Sentences end at . ! ? and line breaks; clauses also end at , ; : ( ) and dashes, and a new clause
starts at a contrast word (but, however, although, though, whereas, yet). Negation scope never
crosses a clause (see phrases.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(
    r"(?P<number>\d+(?:[.,/]\d+)*)"
    r"|(?P<word>[^\W\d_]+(?:['\u2019][^\W\d_]+)*['\u2019]?)"
    r"|(?P<sentence>[.!?]+|\n)"
    r"|(?P<clause>[,;:()\[\]\u2013\u2014]|\s-\s|--)",
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})

# Contractions that expand to two words. "n't" is handled generally below.
_IRREGULAR = {
    "can't": ("can", "not"),
    "cannot": ("can", "not"),
    "won't": ("will", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("is", "not"),
    "let's": ("let", "us"),
}
_SUFFIXES = {"'m": "am", "'re": "are", "'ve": "have", "'ll": "will", "'d": "would"}
# Only these take "'s" as "is"; elsewhere it is a possessive and is dropped.
_S_IS = frozenset(
    [
        "it",
        "that",
        "there",
        "here",
        "what",
        "who",
        "he",
        "she",
        "where",
        "how",
        "which",
        "this",
        "everything",
        "something",
        "nothing",
    ]
)
CONTRAST = frozenset({"but", "however", "although", "though", "whereas", "yet"})

NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
}
# "one" is left alone: "the one you mean", "one of the reasons" are not the number 1.
NUMBER_WORDS.pop("one")


@dataclass(frozen=True)
class Token:
    text: str  # normalised word or number
    start: int  # character span in the original text (a contraction's parts share its span)
    end: int
    sentence: int
    clause: int


def _expand(word: str) -> tuple[str, ...]:
    word = word.translate(_APOSTROPHES).lower().rstrip("'")
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("n't") and len(word) > 3:
        return (word[:-3], "not")
    for suffix, full in _SUFFIXES.items():
        if word.endswith(suffix) and len(word) > len(suffix):
            return (word[: -len(suffix)], full)
    if word.endswith("'s"):
        stem = word[:-2]
        return (stem, "is") if stem in _S_IS else (stem,)
    return (NUMBER_WORDS.get(word, word),)


def _number(text: str) -> str:
    """'1,000' -> '1000', '121.00' -> '121'; fractions and decimals kept."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+", text):
        text = text.replace(",", "")
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".", 1)[0]
    return text


@lru_cache(maxsize=4096)
def tokenize(text: str) -> tuple[Token, ...]:
    """Word and number tokens of `text` with their spans, sentence and clause indices."""
    tokens: list[Token] = []
    sentence = clause = 0
    fresh = True  # nothing emitted since the last boundary: don't open empty sentences
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "sentence" or kind == "clause":
            if not fresh:
                clause += 1
                if kind == "sentence":
                    sentence += 1
                fresh = True
            continue
        raw = match.group()
        parts = (_number(raw),) if kind == "number" else _expand(raw)
        if parts[0] in CONTRAST and not fresh:
            clause += 1
        for part in parts:
            if part:
                tokens.append(Token(part, match.start(), match.end(), sentence, clause))
        fresh = False
    return tuple(tokens)


def words(text: str) -> tuple[str, ...]:
    """The normalised token texts of `text` (the form phrases are written in)."""
    return tuple(token.text for token in tokenize(text))


def sentence_span(text: str, tokens: tuple[Token, ...], index: int) -> str:
    """The original text of the sentence holding token `index`, with its closing punctuation
    (a verbatim evidence quote)."""
    number = tokens[index].sentence
    inside = [t for t in tokens if t.sentence == number]
    after = next((t.start for t in tokens if t.sentence > number), len(text))
    return text[inside[0].start : after].strip()


def opening(tokens: tuple[Token, ...], sentences: int) -> int:
    """How many tokens the first `sentences` sentences hold."""
    return sum(1 for token in tokens if token.sentence < sentences)
