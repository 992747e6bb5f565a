"""Contextual calibration on hand-made numbers."""
from __future__ import annotations

import numpy as np
import pytest

from ctxlearn.data import Example
from ctxlearn.icl.calibrate import CONTENT_FREE, calibrate, content_free, label_bias, label_probs


def test_label_probs_normalise_over_the_labels() -> None:
    np.testing.assert_allclose(label_probs(np.log([[0.2, 0.6], [0.01, 0.03]])), [[0.25, 0.75], [0.25, 0.75]])


def test_bias_is_the_mean_of_the_content_free_label_probs() -> None:
    loglik = np.log([[0.6, 0.2], [0.7, 0.1], [0.5, 0.5]])  # normalised: [.75 .25], [.875 .125], [.5 .5]
    np.testing.assert_allclose(label_bias(loglik), [0.708333, 0.291667], atol=1e-6)


def test_calibration_divides_the_bias_out() -> None:
    bias = np.array([0.8, 0.2])
    np.testing.assert_allclose(calibrate(np.array([[0.8, 0.2]]), bias), [[0.5, 0.5]])  # looks like the bias: no preference
    # 0.7 for the favoured label is less than its bias: calibration flips the decision
    np.testing.assert_allclose(calibrate(np.array([[0.7, 0.3]]), bias), [[0.7 / 0.8, 0.3 / 0.2]] / np.sum([0.7 / 0.8, 0.3 / 0.2]))
    per_query = calibrate(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([[0.25, 0.75], [0.5, 0.5]]))
    np.testing.assert_allclose(per_query, [[0.75, 0.25], [0.5, 0.5]])


@pytest.mark.parametrize("pair", [None, "hypothesis"])
def test_content_free_inputs_replace_every_text(pair) -> None:
    assert CONTENT_FREE == ("N/A", "", "[MASK]")
    ex = content_free(Example("a long review", "positive", text_pair=pair), "N/A")
    assert ex.text == "N/A" and ex.text_pair == (None if pair is None else "N/A")
