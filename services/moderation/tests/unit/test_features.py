from __future__ import annotations

import numpy as np
import pytest

from sotong_moderation.features import _codepoints, _jamo_codepoints, extract
from sotong_moderation.normalize import normalize


@pytest.mark.parametrize("text", ["", "a", "ㅋㅋ 발", "닭갈비 먹고 싶다!!", "\ud800가나", "시1발 놈", "ＡＢＣ 가"])
def test_numpy_jamo_code_points_equal_the_jamo_view(text: str) -> None:
    nt = normalize(text)
    assert np.array_equal(_jamo_codepoints(_codepoints(nt.tight.text)), _codepoints(nt.jamo_text))


def test_features_ignore_fillers_and_are_deterministic() -> None:
    a_idx, a_val = extract(normalize("시발 구청"))
    b_idx, b_val = extract(normalize("시1발 구.청"))
    assert np.array_equal(np.sort(a_idx), np.sort(b_idx))
    assert np.allclose(a_val[0], b_val[0])
    assert np.array_equal(extract(normalize("공원"))[0], extract(normalize("공원"))[0])
