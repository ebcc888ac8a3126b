from __future__ import annotations

import json

import numpy as np

from sotong_moderation.classifier import Classifier, default_model_dir
from sotong_moderation.normalize import normalize
from sotong_moderation.pipeline import Pipeline


def test_packaged_model_is_small_pickle_free_and_licensed() -> None:
    d = default_model_dir()
    assert (d / "weights.npz").stat().st_size < 5_000_000
    with np.load(d / "weights.npz", allow_pickle=False) as z:
        assert z["weights"].dtype == np.int8
    notice = (d / "NOTICE.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in notice and "MIT" in notice
    meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
    assert set(meta["heads"]) == {"abuse", "hate", "personal_attack", "political"}


def test_policy_heads_exist_in_the_model(pipeline: Pipeline) -> None:
    assert pipeline.classifier is not None
    for head in pipeline.policy_store.current.heads:
        assert head.head in pipeline.classifier.heads


def test_abuse_head_separates_obvious_cases(pipeline: Pipeline) -> None:
    clf = pipeline.classifier
    assert isinstance(clf, Classifier)
    i = clf.heads.index("abuse")
    rude = clf.predict(normalize("이 병신같은 새끼들아 꺼져라"))[i].probability
    kind = clf.predict(normalize("공원 정비해 주셔서 감사합니다"))[i].probability
    assert rude > 0.9 > 0.3 > kind
