"""A process with one consumer of a given kind, whose handler fails unexpectedly on marked records.

`python consumer_probe.py faust|batch|lane OUT_FILE` consumes `intake.raw-submission.v1` (faust, batch: records
whose text contains BOOM raise RuntimeError) or `alerting.dispatch-routine.v1` (lane: dispatches whose id starts
with boom raise RuntimeError), appends every record it handled to OUT_FILE, and runs in the platform's process
lifecycle until SIGTERM, as a service process would. tests/service/test_consumer_core.py drives it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_common import batching, config, consumer, process, streams, topics
from sotong_publishing import lanes
from sotong_publishing.dispatch import DispatchResult


@config.settings
class Probe(config.KafkaSettings):
    topic_replication: int = config.env(config.TOPIC_REPLICATION)


POLICY = consumer.Policy(max_attempts=3, unexpected_pause_s=0.05)


def main(kind: str, out: Path) -> None:
    def handled(name: str) -> None:
        with out.open("a") as f:
            f.write(name + "\n")

    async def serve(proc: process.Process, chosen: Probe) -> None:
        if kind == "faust":
            worker = streams.Worker("probe-faust", chosen.kafka_bootstrap, policy=POLICY)

            @worker.handler(topics.RAW_SUBMISSION, intake.SubmitReportRequest)
            async def take(event: streams.Received[intake.SubmitReportRequest]) -> None:
                if "BOOM" in event.message.text:
                    raise RuntimeError("an error nobody foresaw")
                handled(event.message.text)

            proc.task("faust worker", worker.run, stop=worker.stop)
        elif kind == "batch":
            batches = batching.BatchConsumer("probe-batch", chosen.kafka_bootstrap, policy=POLICY, trace_events=False)

            async def take_batch(items: Sequence[batching.Item[Any]]) -> batching.Handled:
                if any("BOOM" in i.received.message.text for i in items):
                    raise RuntimeError("an error nobody foresaw")
                for item in items:
                    handled(item.received.message.text)
                return batching.Handled()

            batches.handler(topics.RAW_SUBMISSION, intake.SubmitReportRequest)(take_batch)
            proc.task("batch consumer", batches.run, stop=batches.stop)
        else:
            sink = await proc.producer(chosen.kafka_bootstrap, "probe-lane")

            class NoRoute:
                def breaker_states(self) -> dict[str, str]:
                    return {}

            class Exploding:
                route = NoRoute()

                async def handle(self, dispatch: pub.DispatchRequested, yield_to: Any = None) -> DispatchResult:
                    if dispatch.dispatch_id.startswith("boom"):
                        raise RuntimeError("an error nobody foresaw")
                    handled(dispatch.dispatch_id)
                    return DispatchResult(delivered=1)

            delivering = lanes.Delivering("sms", Exploding(), sink, None, lanes.Precedence(), POLICY)  # type: ignore[arg-type]
            delivering.log = delivering.log.bind(probe=True)
            lane = lanes.LaneConsumer(delivering, topics.ROUTINE, chosen.kafka_bootstrap)
            await lane.start()
            proc.task("sms routine lane", lane.run, stop=lane.stop)

    process.run(f"probe-{kind}", "probe", Probe.load_or_exit(), serve)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
