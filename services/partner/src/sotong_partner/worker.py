"""The partner service's worker (`sotong-partner-worker`): partner notifications, campaign checks and receipts.

- `partner.merchant-changed.v1` → one outbound webhook delivery per endpoint that receives it (`outbound`),
  queued once per event (processed-event dedup in the same transaction); the sender works the queue.
- `publishing.delivery-reported.v1` → the per-channel results of campaigns (only this service's receipts).
- every few seconds: campaigns still `checking` (moderation was away) are asked about again.

It runs the outbox relay too (campaigns checked here dispatch through the outbox), so campaign dispatches go out
even when the API process is down.
"""

from __future__ import annotations

import asyncio
import contextlib

from sotong.partner.v1 import partner_events_pb2 as ev
from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_common import logs, process, streams, topics
from sotong_partner import campaign_store, campaigns, settings
from sotong_partner.campaign_store import CampaignStore, receipt_counts
from sotong_partner.moderation_check import ModerationCheck
from sotong_partner.outbound import EndpointStore, Sender
from sotong_partner.streets import Streets

NOTIFY = "partner.notify-partners"
RECEIPTS = "partner.campaign-receipts"
CHECK_INTERVAL_S = 5.0
RECHECK_AFTER_S = 4.0
IDLE_POLL_S = 1.0


class SenderLoop:
    """Keeps sending due deliveries until stopped; sleeps until the next one is due (at most `IDLE_POLL_S`)."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self._stopping = asyncio.Event()
        self._log = logs.get("partner.webhooks")

    async def run(self) -> None:
        await self._sender.start()
        try:
            while not self._stopping.is_set():
                try:
                    if await self._sender.run_once():
                        continue
                    due = await self._sender.next_due_in()
                except Exception as exc:  # a database blip: try again shortly, never die of it
                    self._log.warning("webhook sender pass failed", error=repr(exc))
                    due = IDLE_POLL_S
                wait = IDLE_POLL_S if due is None else min(IDLE_POLL_S, max(0.02, due))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
        finally:
            await self._sender.stop()

    def stop(self) -> None:
        self._stopping.set()


async def serve(proc: process.Process, chosen: settings.Worker) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-partner-worker")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    proc.purge_processed_events(pool)
    streets = Streets.load(chosen.partner_streets)
    endpoints = EndpointStore(pool, chosen.partner_data_keys)
    campaign_rows = CampaignStore(pool, streets, chosen.partner_public_url, chosen.partner_campaign_sns_accounts)
    moderation = ModerationCheck(chosen.partner_moderation_addr, chosen.jwt_secret)
    proc.on_stop("moderation channel", moderation.close)

    async def recheck() -> None:
        for row in await campaign_rows.checking(RECHECK_AFTER_S):
            await campaign_store.check(campaign_rows, moderation, row)

    proc.every("campaign moderation retry", CHECK_INTERVAL_S, recheck)
    sender = SenderLoop(
        Sender(pool, chosen.partner_data_keys, chosen.partner_webhook_schedule_scale, chosen.partner_webhook_timeout_s)
    )
    proc.task("webhook sender", sender.run, stop=sender.stop)
    worker = build(chosen, endpoints, campaign_rows)
    proc.task("faust worker", worker.run, stop=worker.stop)


def build(chosen: settings.Worker, endpoints: EndpointStore, campaign_rows: CampaignStore) -> streams.Worker:
    worker = streams.Worker("partner", chosen.kafka_bootstrap, chosen.topic_replication)
    log = logs.get("partner.worker")

    @worker.handler(topics.PARTNER_MERCHANT_CHANGED, ev.MerchantChanged)
    async def notify_partners(event: streams.Received[ev.MerchantChanged]) -> None:
        change = event.message
        if not change.merchant_id or change.change == ev.MERCHANT_CHANGE_UNSPECIFIED:
            raise streams.PoisonMessage("a merchant change names no merchant or no change")
        try:
            queued = await endpoints.enqueue(NOTIFY, event.metadata.event_id, change)
        except ValueError as exc:
            raise streams.PoisonMessage(str(exc)) from None
        if queued is not None:
            log.info("partner webhooks queued", merchant_id=change.merchant_id, endpoints=queued)

    @worker.handler(topics.DELIVERY_REPORTED, pub.DeliveryReported)
    async def campaign_receipt(event: streams.Received[pub.DeliveryReported]) -> None:
        report = event.message
        if report.requester != campaigns.REQUESTER:
            return
        await campaign_rows.record_receipt(RECEIPTS, event.metadata.event_id, report, receipt_counts(report))

    return worker


def main() -> None:
    process.run("partner-worker", "partner", settings.Worker.load_or_exit(), serve)


if __name__ == "__main__":
    main()
