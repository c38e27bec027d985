"""Post-hoc calibration of scores, fitted on the valid split only."""

from __future__ import annotations

import numpy as np

from imbexp.errors import DataError

METHODS = ("none", "sigmoid", "isotonic")
#: fewest minority rows in valid that each method needs to be fitted meaningfully
MIN_MINORITY = {"sigmoid": 10, "isotonic": 30}


class ScoreCalibrator:
    """Platt scaling on the logit of the score (``sigmoid``) or isotonic regression."""

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, y_score: np.ndarray, y_true: np.ndarray) -> ScoreCalibrator:
        if self.method == "sigmoid":
            from sklearn.linear_model import LogisticRegression

            self._model = LogisticRegression(C=1e6).fit(_logit(y_score)[:, None], y_true)
        else:
            from sklearn.isotonic import IsotonicRegression

            self._model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(y_score, y_true)
        return self

    def transform(self, y_score: np.ndarray) -> np.ndarray:
        if self.method == "sigmoid":
            return self._model.predict_proba(_logit(y_score)[:, None])[:, 1]
        # keep scores strictly inside (0, 1) so log loss stays finite
        return np.clip(self._model.predict(y_score), 1e-6, 1 - 1e-6)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def check_enough_minority(method: str, y_valid: np.ndarray) -> None:
    needed = MIN_MINORITY[method]
    found = int(min(np.bincount(y_valid, minlength=2)))
    if found < needed:
        raise DataError(f"calibration={method} needs at least {needed} minority rows in valid to fit; "
                        f"valid has {found} (raise split.valid_size, use more data"
                        f"{', or calibration=sigmoid' if method == 'isotonic' else ''}).")


def cross_fitted(method: str, y_score: np.ndarray, y_true: np.ndarray, seed: int) -> np.ndarray:
    """Calibrated valid scores, each from a calibrator fitted on the other valid rows, so the
    valid metrics of a calibrated model are not measured on the calibrator's own data."""
    from sklearn.model_selection import StratifiedKFold

    n_splits = int(min(5, np.bincount(y_true, minlength=2).min()))
    out = np.empty_like(y_score, dtype=np.float64)
    for fit_rows, held_out in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(y_score, y_true):
        out[held_out] = ScoreCalibrator(method).fit(y_score[fit_rows], y_true[fit_rows]).transform(y_score[held_out])
    return out
