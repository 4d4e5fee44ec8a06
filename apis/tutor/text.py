"""Text helpers of the tutor: tokens for retrieval (English and Korean), placeholders for personal
data, and the quote check that keeps active exam items out of questions and answers.

Korean is tokenised without a dictionary: each run of Hangul syllables becomes its character
bigrams (a one-syllable run stays a unigram). Bigrams match across particles and endings
(`변수는`, `변수를` share `변수`), which is what a morphological analyser would buy here.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"[0-9a-z_]+|[\uac00-\ud7a3]+")
_HANGUL_START = "\uac00"
_STOPWORDS_TEXT = (
    "a an and are as at be but by can do does for from has have how i if in into is it its me "
    "my no not of on or so that the their then there these this to was what when where which "
    "who why will with you your"
)
# Python's keywords stay searchable: in a programming course `for`, `in` or `is` are topics.
STOPWORDS = frozenset(_STOPWORDS_TEXT.split(" ")) - frozenset(keyword.kwlist)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokens(text: str) -> list[str]:
    """Retrieval tokens: lower-case words without stopwords, Hangul runs as bigrams."""
    out: list[str] = []
    for run in _WORD.findall(normalise(text)):
        if run[0] >= _HANGUL_START:
            out.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
        elif run not in STOPWORDS:
            out.append(run)
    return out


def scrub(text: str, names: Iterable[str]) -> str:
    """Names and e-mail addresses replaced by placeholders (masking class `direct`) before text
    leaves for an external model. Longer names first, so a full name wins over its parts."""
    text = _EMAIL.sub("[email]", text)
    for name in sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True):
        text = re.sub(re.escape(name), "[name]", text, flags=re.IGNORECASE)
    return text


def _squeeze(text: str) -> str:
    """Letters and digits only, lower case: a quote survives re-spacing and punctuation."""
    return "".join(ch for ch in normalise(text) if ch.isalnum())


class QuoteGuard:
    """Does a text quote one of the protected passages (active exam items' stems and options)?

    A protected text is cut into overlapping windows of `window` characters (letters and digits
    only); a text quotes it when it contains any window. Short texts (an option like `4`) are
    protected only whole and only when at least `min_whole` characters long, or every answer with
    a digit would be refused.
    """

    def __init__(self, protected: Iterable[str], window: int = 24, min_whole: int = 8) -> None:
        self.window = window
        self._windows: set[str] = set()
        self._wholes: list[str] = []
        for text in protected:
            squeezed = _squeeze(text)
            if len(squeezed) > window:
                step = max(1, window // 3)
                for i in range(0, len(squeezed) - window + 1, step):
                    self._windows.add(squeezed[i : i + window])
            elif len(squeezed) >= min_whole:
                self._wholes.append(squeezed)

    def __bool__(self) -> bool:
        return bool(self._windows or self._wholes)

    @property
    def holdback(self) -> int:
        """How many trailing characters a stream must hold back until the next check."""
        return self.window * 3 if self else 0

    def quotes(self, text: str) -> bool:
        if not self:
            return False
        squeezed = _squeeze(text)
        if any(whole in squeezed for whole in self._wholes):
            return True
        size = self.window
        return any(squeezed[i : i + size] in self._windows for i in range(len(squeezed) - size + 1))
