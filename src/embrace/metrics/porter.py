"""The Porter stemmer exactly as NLTK's ``PorterStemmer()`` runs it by default (mode ``NLTK_EXTENSIONS``), which
is the stemmer ``rouge-score`` uses for ``use_stemmer=True``.

Porter (1980), "An algorithm for suffix stripping", with Martin Porter's later changes and NLTK's additions: a
table of irregular forms, ``-ies``/``-ied`` on four-letter words, y -> i only after a consonant, ``alli`` tried
first in step 2, ``fulli`` and ``logi`` in step 2, and words of one or two letters left alone.

The measure m of a stem is the number of vowel-consonant transitions in its consonant/vowel pattern; a ``y`` is a
consonant at the start of a word or after a vowel, and a vowel after a consonant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

_VOWELS = frozenset("aeiou")
_IRREGULAR = {"sky": "sky", "skies": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
              "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
              "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
              "exceed": "exceed", "succeed": "succeed"}


def _consonants(word: str) -> list[bool]:
    flags: list[bool] = []
    for i, char in enumerate(word):
        flags.append(char not in _VOWELS and (char != "y" or i == 0 or not flags[i - 1]))
    return flags


def _measure(stem: str) -> int:
    flags = _consonants(stem)
    return sum(1 for i in range(1, len(flags)) if flags[i] and not flags[i - 1])


def _has_vowel(stem: str) -> bool:
    return not all(_consonants(stem))


def _ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and _consonants(word)[-1]


def _ends_cvc(word: str) -> bool:
    """Condition *o: the word ends consonant-vowel-consonant, the last not w, x or y (or is vowel-consonant)."""
    flags = _consonants(word)
    if len(word) >= 3 and flags[-3] and not flags[-2] and flags[-1] and word[-1] not in "wxy":
        return True
    return len(word) == 2 and not flags[0] and flags[1]


Condition = Callable[[str], bool]


def _m_above(threshold: int) -> Condition:
    return lambda stem: _measure(stem) > threshold


_M0, _M1 = _m_above(0), _m_above(1)


def _apply_first(word: str, rules: tuple[tuple[str, str, Condition], ...]) -> str:
    """The first rule whose suffix ends ``word`` decides: its replacement if its condition holds, else no change."""
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[:len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


_STEP2 = tuple((suffix, replacement, _M0) for suffix, replacement in (
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
    ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
    ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"),
    ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"))) + (("logi", "log", lambda stem: _measure(stem + "l") > 0),)
_STEP3 = tuple((suffix, replacement, _M0) for suffix, replacement in (
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", "")))
_STEP4 = tuple((suffix, "", (lambda stem: _measure(stem) > 1 and stem[-1] in "st") if suffix == "ion" else _M1)
               for suffix in ("al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion",
                              "ou", "ism", "ate", "iti", "ous", "ive", "ize"))


def _step1a(word: str) -> str:
    if word.endswith("ies") and len(word) == 4:
        return word[:-3] + "ie"
    for suffix, replacement in (("sses", "ss"), ("ies", "i"), ("ss", "ss"), ("s", "")):
        if word.endswith(suffix):
            return word[:len(word) - len(suffix)] + replacement
    return word


def _step1b(word: str) -> str:
    if word.endswith("ied"):
        return word[:-3] + ("ie" if len(word) == 4 else "i")
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[:-len(suffix)]):
            stem = word[:-len(suffix)]
            break
    else:
        return word
    for suffix in ("at", "bl", "iz"):
        if stem.endswith(suffix):
            return stem + "e"
    if _ends_double_consonant(stem):
        return stem[:-1] if stem[-1] not in "lsz" else stem
    return stem + "e" if _measure(stem) == 1 and _ends_cvc(stem) else stem


def _step1c(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and _consonants(word[:-1])[-1]:
        return word[:-1] + "i"
    return word


def _step2(word: str) -> str:
    if word.endswith("alli") and _measure(word[:-4]) > 0:
        return _step2(word[:-4] + "al")
    return _apply_first(word, _STEP2)


def _step5(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        measure = _measure(stem)
        if measure > 1 or (measure == 1 and not _ends_cvc(stem)):
            word = stem
    if word.endswith("ll") and _measure(word[:-1]) > 1:
        return word[:-1]
    return word


@lru_cache(maxsize=1 << 17)
def stem(word: str) -> str:
    """``nltk.stem.PorterStemmer().stem(word)``: the lower-cased word's Porter stem (NLTK_EXTENSIONS mode)."""
    lowered = word.lower()
    if lowered in _IRREGULAR:
        return _IRREGULAR[lowered]
    if len(word) <= 2:
        return lowered
    for step in (_step1a, _step1b, _step1c, _step2):
        lowered = step(lowered)
    return _step5(_apply_first(_apply_first(lowered, _STEP3), _STEP4))
