from __future__ import annotations

import numpy as np

from sotong_moderation.features import extract
from sotong_moderation.normalize import normalize


def test_features_ignore_fillers_and_are_deterministic() -> None:
    a_idx, a_val = extract(normalize("시발 구청"))
    b_idx, b_val = extract(normalize("시1발 구.청"))
    assert np.array_equal(np.sort(a_idx), np.sort(b_idx))
    assert np.allclose(a_val[0], b_val[0])
    assert np.array_equal(extract(normalize("공원"))[0], extract(normalize("공원"))[0])
