from sotong_common import topics


def test_every_topic_constant_is_in_the_catalog_with_a_dead_letter_topic() -> None:
    names = {t.name for t in topics.catalog()}
    for name in (
        topics.SUBMISSION_RECEIVED,
        topics.SUBMISSION_STATUS_CHANGED,
        topics.DECISION_MADE,
        topics.RAW_SUBMISSION,
        topics.INCIDENT_CHANGED,
        topics.DISPATCH_EMERGENCY,
        topics.DISPATCH_ROUTINE,
        topics.DELIVERY_REPORTED,
    ):
        assert name in names
        assert topics.dlq_name(name) in names


def test_topic_names_are_versioned_and_owned() -> None:
    for topic in topics.catalog(""):
        base = topic.name.removesuffix(".dlq")
        assert base.split(".")[-1].startswith("v"), topic.name
        assert topic.owner
        if not topic.name.endswith(".dlq") and topic.owner != "upstream":
            assert base.split(".")[0] == topic.owner, f"{topic.name} is written by {topic.owner}"


def test_prefix_applies_to_names_not_event_types() -> None:
    prefixed = topics.catalog("test1.")
    assert all(t.name.startswith("test1.") for t in prefixed)
    assert topics.get(topics.DECISION_MADE).retention_ms == 2592000000
