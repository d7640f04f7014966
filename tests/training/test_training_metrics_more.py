"""matthews_correlation, pearsonr, spearmanr, mse, mae, exact_match, wer and cer equal their oracle libraries
(scikit-learn, scipy, jiwer) on randomised inputs and edge cases."""

from __future__ import annotations

import math
import string

import numpy as np
import pytest

from embrace import metrics
from embrace.metrics import MetricInputError

sk = pytest.importorskip("sklearn.metrics")
stats = pytest.importorskip("scipy.stats")
jiwer = pytest.importorskip("jiwer")


@pytest.mark.parametrize("seed", range(8))
def test_matthews_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 50)), int(rng.integers(2, 5))
    preds, refs = rng.integers(0, k, n), rng.integers(0, k, n)
    weight = rng.random(n) if seed % 2 else None
    got = metrics.load("matthews_correlation").compute(predictions=preds, references=refs, sample_weight=weight)
    assert got["matthews_correlation"] == pytest.approx(sk.matthews_corrcoef(refs, preds, sample_weight=weight),
                                                        abs=1e-12)


def test_matthews_edge_cases():
    mcc = metrics.load("matthews_correlation")
    assert mcc.compute(predictions=[1, 1, 1], references=[1, 1, 1])["matthews_correlation"] == 0.0  # one class
    assert mcc.compute(predictions=[0, 1], references=[0, 1])["matthews_correlation"] == 1.0
    assert mcc.compute(predictions=[1, 0], references=[0, 1])["matthews_correlation"] == -1.0


@pytest.mark.parametrize("seed", range(8))
def test_correlations_match_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 60))
    x = rng.normal(size=n)
    y = x * rng.normal() + rng.normal(size=n)
    if seed % 2:  # ties
        x, y = np.round(x), np.round(y * 2) / 2
    assert metrics.load("pearsonr").compute(predictions=x, references=y)["pearsonr"] == pytest.approx(
        stats.pearsonr(y, x).statistic, abs=1e-12)
    assert metrics.load("spearmanr").compute(predictions=x, references=y)["spearmanr"] == pytest.approx(
        stats.spearmanr(y, x).statistic, abs=1e-12)


def test_correlation_edge_cases():
    assert math.isnan(metrics.load("pearsonr").compute(predictions=[1, 1, 1], references=[1, 2, 3])["pearsonr"])
    with pytest.raises(MetricInputError, match="p-values"):
        metrics.load("pearsonr").compute(predictions=[1, 2], references=[1, 2], return_pvalue=True)
    with pytest.raises(MetricInputError, match="no predictions"):
        metrics.load("spearmanr").compute(predictions=[], references=[])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("multioutput", ["uniform_average", "raw_values"])
def test_mse_mae_match_sklearn(seed, multioutput):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 30)),) + ((3,) if multioutput == "raw_values" else ())
    preds, refs, weight = rng.normal(size=shape), rng.normal(size=shape), rng.random(shape[0])
    got = metrics.load("mse").compute(predictions=preds, references=refs, sample_weight=weight,
                                      multioutput=multioutput)["mse"]
    assert np.allclose(got, sk.mean_squared_error(refs, preds, sample_weight=weight, multioutput=multioutput))
    rmse = metrics.load("mse").compute(predictions=preds, references=refs, squared=False,
                                       multioutput=multioutput)["mse"]
    assert np.allclose(rmse, sk.root_mean_squared_error(refs, preds, multioutput=multioutput))
    got = metrics.load("mae").compute(predictions=preds, references=refs, multioutput=multioutput)["mae"]
    assert np.allclose(got, sk.mean_absolute_error(refs, preds, multioutput=multioutput))


def _sentence(rng, words):
    return " ".join(rng.choice(words, size=int(rng.integers(1, 8))))


@pytest.mark.parametrize("seed", range(8))
def test_wer_cer_match_jiwer(seed):
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran"]
    refs = [_sentence(rng, words) for _ in range(int(rng.integers(1, 6)))]
    preds = [_sentence(rng, words) if rng.random() < 0.7 else "" for _ in refs]
    preds = [p if p else "the" for p in preds]
    assert metrics.load("wer").compute(predictions=preds, references=refs) == pytest.approx(jiwer.wer(refs, preds))
    assert metrics.load("cer").compute(predictions=preds, references=refs) == pytest.approx(jiwer.cer(refs, preds))
    assert metrics.load("wer").compute(predictions=preds, references=refs, concatenate_texts=True) == pytest.approx(
        jiwer.wer(" ".join(refs), " ".join(preds)))


def test_wer_edge_cases():
    assert metrics.load("wer").compute(predictions=["a  b "], references=[" a b"]) == 0.0  # spaces normalised
    with pytest.raises(MetricInputError, match="empty"):
        metrics.load("wer").compute(predictions=["a"], references=[""])
    assert metrics.combine(["wer", "cer"]).compute(predictions=["ab"], references=["ab"]) == {"wer": 0.0, "cer": 0.0}


def test_exact_match_options():
    em = metrics.load("exact_match")
    preds, refs = ["The Cat!", "dog 12", "bird"], ["the cat", "dog", "fish"]
    assert em.compute(predictions=preds, references=refs)["exact_match"] == 0.0
    assert em.compute(predictions=preds, references=refs, ignore_case=True, ignore_punctuation=True,
                      ignore_numbers=True)["exact_match"] == pytest.approx(1 / 3)  # "dog " != "dog"
    assert em.compute(predictions=preds, references=refs, ignore_case=True, ignore_punctuation=True,
                      regexes_to_ignore=[r"\s*\d+"])["exact_match"] == pytest.approx(2 / 3)
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list(string.ascii_lowercase[:3]), 2)) for _ in range(40)]
    other = ["".join(rng.choice(list(string.ascii_lowercase[:3]), 2)) for _ in range(40)]
    assert em.compute(predictions=texts, references=other)["exact_match"] == np.mean(
        [a == b for a, b in zip(texts, other, strict=True)])


@pytest.mark.parametrize("config", ["sst2", "mrpc", "qqp", "stsb", "cola", "mnli_matched"])
def test_glue_configs_match_the_oracles(config):
    rng = np.random.default_rng(len(config))
    if config == "stsb":
        preds, refs = rng.random(30) * 5, rng.random(30) * 5
        expected = {"pearson": stats.pearsonr(refs, preds).statistic, "spearmanr": stats.spearmanr(refs, preds).statistic}
    else:
        preds, refs = rng.integers(0, 2, 30), rng.integers(0, 2, 30)
        expected = ({"matthews_correlation": sk.matthews_corrcoef(refs, preds)} if config == "cola"
                    else {"accuracy": sk.accuracy_score(refs, preds)})
        if config in ("mrpc", "qqp"):
            expected["f1"] = sk.f1_score(refs, preds)
    got = metrics.load("glue", config).compute(predictions=preds, references=refs)
    assert got == pytest.approx(expected, abs=1e-12)


def test_glue_needs_a_config():
    with pytest.raises(MetricInputError, match="config name"):
        metrics.load("glue")
