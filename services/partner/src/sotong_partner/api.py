"""The partner service's gRPC API (`sotong-partner-api`): `sotong.partner.v1.PartnerService`, and the outbox relay
that publishes its merchant events and campaign dispatches.

Who may do what: a `partner` account acts on the merchants it registered (their consents and catalogues);
partner-programme staff (`operator`) verify merchants, run campaigns and manage partner-platform endpoints;
a `moderator` decides campaign texts the moderation pipeline held for review.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_common import auth, logs, process
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound, PermissionDenied
from sotong_common.server import Server, principal
from sotong_partner import campaign_store, campaigns, contract, merchant, notifications, settings
from sotong_partner.campaign_store import CampaignStore
from sotong_partner.catalogue import SKU, validate
from sotong_partner.feeds import FORMATS
from sotong_partner.moderation_check import ModerationCheck
from sotong_partner.outbound import EndpointStore
from sotong_partner.store import CatalogueStore, MerchantStore, MerchantView
from sotong_partner.streets import Streets

SERVICE = "sotong.partner.v1.PartnerService"
MAX_PAGE = 200
STAFF = "operator"

POLICY = auth.Policy(
    {
        f"/{SERVICE}/RegisterMerchant": {"partner", STAFF},
        f"/{SERVICE}/GetMerchant": {"partner", STAFF},
        f"/{SERVICE}/ListMerchants": {STAFF},
        f"/{SERVICE}/VerifyMerchant": {STAFF},
        f"/{SERVICE}/SetConsent": {"partner"},
        f"/{SERVICE}/UpsertProduct": {"partner"},
        f"/{SERVICE}/DeleteProduct": {"partner"},
        f"/{SERVICE}/GetProduct": {"partner", STAFF},
        f"/{SERVICE}/ListProducts": {"partner", STAFF},
        f"/{SERVICE}/ListMarketStreets": {"partner", STAFF, "citizen", "moderator"},
        f"/{SERVICE}/CreateCampaign": {STAFF},
        f"/{SERVICE}/GetCampaign": {STAFF, "moderator"},
        f"/{SERVICE}/ReviewCampaign": {"moderator"},
        f"/{SERVICE}/RegisterWebhookEndpoint": {STAFF},
        f"/{SERVICE}/EnableWebhookEndpoint": {STAFF},
        f"/{SERVICE}/ListWebhookDeliveries": {STAFF},
        f"/{SERVICE}/ReplayWebhookDeliveries": {STAFF},
    }
)


def _page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE:
        raise InvalidArgument(FieldViolation("page_size", f"page_size must be between 0 and {MAX_PAGE}"))
    return value or 50


def _is_staff() -> bool:
    return bool({STAFF, "admin"} & principal().roles)


class PartnerService(pb_grpc.PartnerServiceServicer):
    def __init__(
        self,
        merchants: MerchantStore,
        catalogue: CatalogueStore,
        campaigns_: CampaignStore,
        endpoints: EndpointStore,
        streets: Streets,
        moderation: ModerationCheck,
        chosen: settings.Api,
    ) -> None:
        self._merchants = merchants
        self._catalogue = catalogue
        self._campaigns = campaigns_
        self._endpoints = endpoints
        self._streets = streets
        self._moderation = moderation
        self._settings = chosen
        self._log = logs.get("partner.api")

    # -- merchants ------------------------------------------------------------------------------------------------

    def _merchant(self, view: MerchantView, reveal: bool = False) -> pb.Merchant:
        people = self._merchants.contacts(view.row)
        shown = people if reveal else [merchant.masked(p) for p in people]
        return contract.merchant_to_proto(
            view,
            shown,
            self._merchants.homepage_url(view.row["slug"]),
            self._merchants.feed_urls(view.row["feed_group"], list(FORMATS)),
        )

    async def _owned(self, merchant_id: str, *, staff_may: bool = False) -> MerchantView:
        """The merchant, if the caller owns it (or is staff where staff may look)."""
        if not merchant_id:
            raise InvalidArgument(FieldViolation("merchant_id", "merchant_id is required"))
        view = await self._merchants.get(merchant_id)
        if view is None:
            raise NotFound(f"no merchant {merchant_id}")
        caller = principal()
        if view.row["owner"] != caller.subject and not (staff_may and _is_staff()) and "admin" not in caller.roles:
            raise PermissionDenied("this merchant belongs to another partner account")
        return view

    async def RegisterMerchant(self, request: pb.RegisterMerchantRequest, context: Any) -> pb.RegisterMerchantResponse:
        registration, problems = merchant.check_registration(
            contract.registration_input(request), self._streets, self._settings.platforms
        )
        if registration is None:
            raise InvalidArgument(problems)
        view, created = await self._merchants.register(registration, principal().subject)
        self._log.info(
            "merchant registered" if created else "merchant already registered", merchant_id=str(view.row["id"])
        )
        return pb.RegisterMerchantResponse(merchant=self._merchant(view), created=created)

    async def GetMerchant(self, request: pb.GetMerchantRequest, context: Any) -> pb.GetMerchantResponse:
        view = await self._owned(request.merchant_id, staff_may=True)
        reveal = request.reveal_contacts
        if reveal:
            if not _is_staff():
                raise PermissionDenied("only partner-programme staff may reveal contact persons")
            await self._merchants.record_reveal(view.row["id"], principal().subject)
        return pb.GetMerchantResponse(merchant=self._merchant(view, reveal))

    async def ListMerchants(self, request: pb.ListMerchantsRequest, context: Any) -> pb.ListMerchantsResponse:
        limit = _page_size(request.page_size)
        status = contract.STATUS_FROM_PROTO.get(request.status) if request.status else None
        if request.status and status is None:
            raise InvalidArgument(FieldViolation("status", "unknown status"))
        if request.street_code and self._streets.get(request.street_code) is None:
            raise InvalidArgument(FieldViolation("street_code", "unknown market street"))
        after = _decode_cursor(request.page_token) if request.page_token else None
        rows = await self._merchants.page(status, request.street_code or None, limit + 1, after)
        consents = await self._merchants.consents_of([r["id"] for r in rows[:limit]])
        merchants = [self._merchant(MerchantView(r, consents.get(r["id"], []), [])) for r in rows[:limit]]
        token = _encode_cursor(rows[limit - 1]) if len(rows) > limit else ""
        return pb.ListMerchantsResponse(merchants=merchants, next_page_token=token)

    async def VerifyMerchant(self, request: pb.VerifyMerchantRequest, context: Any) -> pb.VerifyMerchantResponse:
        decision = contract.DECISIONS.get(request.decision)
        if decision is None:
            raise InvalidArgument(FieldViolation("decision", "decision must be APPROVE, REJECT, SUSPEND or REINSTATE"))
        if not request.merchant_id:
            raise InvalidArgument(FieldViolation("merchant_id", "merchant_id is required"))
        view = await self._merchants.verify(request.merchant_id, decision, request.note, principal().subject)
        self._log.info("merchant verification", merchant_id=request.merchant_id, decision=decision)
        return pb.VerifyMerchantResponse(merchant=self._merchant(view))

    async def SetConsent(self, request: pb.SetConsentRequest, context: Any) -> pb.SetConsentResponse:
        if request.platform not in self._settings.platforms:
            raise InvalidArgument(
                FieldViolation("platform", "platform must be one of " + ", ".join(self._settings.platforms))
            )
        await self._owned(request.merchant_id)
        view, changed = await self._merchants.set_consent(
            request.merchant_id, request.platform, request.granted, principal().subject
        )
        return pb.SetConsentResponse(merchant=self._merchant(view), changed=changed)

    # -- catalogue ------------------------------------------------------------------------------------------------

    async def UpsertProduct(self, request: pb.UpsertProductRequest, context: Any) -> pb.UpsertProductResponse:
        view = await self._owned(request.merchant_id)
        product, problems = validate(contract.draft_from_proto(request.product))
        if product is None:
            raise InvalidArgument(problems)
        stored = await self._catalogue.upsert(view.row, product, principal().subject, "grpc")
        return pb.UpsertProductResponse(
            product=contract.product_to_proto(stored.row, view.row["slug"]),
            created=stored.created,
            changed=stored.changed,
        )

    async def DeleteProduct(self, request: pb.DeleteProductRequest, context: Any) -> pb.DeleteProductResponse:
        view = await self._owned(request.merchant_id)
        if not SKU.match(request.sku):
            raise InvalidArgument(FieldViolation("sku", "sku must be 1-29 characters of A-Z a-z 0-9 - _"))
        deleted = await self._catalogue.delete(view.row, request.sku, principal().subject, "grpc")
        return pb.DeleteProductResponse(deleted=deleted)

    async def GetProduct(self, request: pb.GetProductRequest, context: Any) -> pb.GetProductResponse:
        view = await self._owned(request.merchant_id, staff_may=True)
        if not SKU.match(request.sku):
            raise InvalidArgument(FieldViolation("sku", "sku must be 1-29 characters of A-Z a-z 0-9 - _"))
        found = await self._catalogue.get(view.row["id"], request.sku)
        if found is None:
            raise NotFound(f"no product {request.sku}")
        row, history = found
        return pb.GetProductResponse(
            product=contract.product_to_proto(row, view.row["slug"]), history=contract.history_to_proto(history)
        )

    async def ListProducts(self, request: pb.ListProductsRequest, context: Any) -> pb.ListProductsResponse:
        view = await self._owned(request.merchant_id, staff_may=True)
        limit = _page_size(request.page_size)
        after = None
        if request.page_token:
            try:
                after = base64.urlsafe_b64decode(request.page_token + "=" * (-len(request.page_token) % 4)).decode()
            except (ValueError, UnicodeDecodeError):
                raise InvalidArgument(
                    FieldViolation("page_token", "page_token is not one this listing gave out")
                ) from None
            if not SKU.match(after):
                raise InvalidArgument(FieldViolation("page_token", "page_token is not one this listing gave out"))
        rows = await self._catalogue.page(view.row["id"], limit + 1, after)
        token = ""
        if len(rows) > limit:
            token = base64.urlsafe_b64encode(rows[limit - 1]["sku"].encode()).decode().rstrip("=")
        return pb.ListProductsResponse(
            products=[contract.product_to_proto(r, view.row["slug"]) for r in rows[:limit]], next_page_token=token
        )

    async def ListMarketStreets(
        self, request: pb.ListMarketStreetsRequest, context: Any
    ) -> pb.ListMarketStreetsResponse:
        return pb.ListMarketStreetsResponse(streets=[contract.street_to_proto(s) for s in self._streets.all()])

    # -- campaigns ------------------------------------------------------------------------------------------------

    async def CreateCampaign(self, request: pb.CreateCampaignRequest, context: Any) -> pb.CreateCampaignResponse:
        channels = [contract.CHANNELS.get(c, f"unknown {c}") for c in request.channels]
        not_before = request.not_before.ToDatetime(tzinfo=UTC) if request.HasField("not_before") else None
        street = self._streets.get(request.street_code)
        problems = campaigns.check_request(
            street, request.title, request.body, channels, not_before, request.request_id, datetime.now(UTC)
        )
        if problems:
            raise InvalidArgument(problems)
        wanted = campaigns.CampaignRequest(
            request.street_code,
            request.title.strip(),
            request.body.strip(),
            tuple(channels),
            request.citywide,
            not_before,
            request.request_id,
        )
        view, created = await self._campaigns.create(wanted, principal().subject)
        if created:
            await campaign_store.check(self._campaigns, self._moderation, view.row)
            found = await self._campaigns.get(str(view.row["id"]))
            assert found is not None
            view = found
        return pb.CreateCampaignResponse(
            campaign=contract.campaign_to_proto(view.row, view.results, self._campaigns.link(view.row["street_code"])),
            created=created,
        )

    async def GetCampaign(self, request: pb.GetCampaignRequest, context: Any) -> pb.GetCampaignResponse:
        view = await self._campaigns.get(request.campaign_id)
        if view is None:
            raise NotFound(f"no campaign {request.campaign_id}")
        return pb.GetCampaignResponse(
            campaign=contract.campaign_to_proto(view.row, view.results, self._campaigns.link(view.row["street_code"]))
        )

    async def ReviewCampaign(self, request: pb.ReviewCampaignRequest, context: Any) -> pb.ReviewCampaignResponse:
        if not request.approve and not request.note.strip():
            raise InvalidArgument(FieldViolation("note", "a refusal must say why"))
        if len(request.note) > 1000:
            raise InvalidArgument(FieldViolation("note", "note must be at most 1,000 characters"))
        try:
            uuid.UUID(request.campaign_id)
        except ValueError:
            raise InvalidArgument(FieldViolation("campaign_id", "campaign_id must be a UUID")) from None
        view = await self._campaigns.review(request.campaign_id, request.approve, request.note, principal().subject)
        return pb.ReviewCampaignResponse(
            campaign=contract.campaign_to_proto(view.row, view.results, self._campaigns.link(view.row["street_code"]))
        )

    # -- partner-platform webhooks ------------------------------------------------------------------------------

    async def RegisterWebhookEndpoint(
        self, request: pb.RegisterWebhookEndpointRequest, context: Any
    ) -> pb.RegisterWebhookEndpointResponse:
        problems: list[FieldViolation] = []
        if request.platform not in self._settings.platforms:
            problems.append(
                FieldViolation("platform", "platform must be one of " + ", ".join(self._settings.platforms))
            )
        why = notifications.check_endpoint_url(request.url, frozenset(self._settings.partner_webhook_insecure_hosts))
        if why:
            problems.append(FieldViolation("url", why))
        unknown = sorted(set(request.event_types) - notifications.EVENT_TYPES)
        if unknown:
            problems.append(
                FieldViolation("event_types", "unknown event types " + ", ".join(t[:40] for t in unknown[:5]))
            )
        if problems:
            raise InvalidArgument(problems)
        row, secret = await self._endpoints.register(
            request.platform, request.url, list(request.event_types), principal().subject
        )
        return pb.RegisterWebhookEndpointResponse(endpoint=contract.endpoint_to_proto(row), secret=secret)

    async def EnableWebhookEndpoint(
        self, request: pb.EnableWebhookEndpointRequest, context: Any
    ) -> pb.EnableWebhookEndpointResponse:
        return pb.EnableWebhookEndpointResponse(
            endpoint=contract.endpoint_to_proto(await self._endpoints.enable(request.endpoint_id))
        )

    async def ListWebhookDeliveries(
        self, request: pb.ListWebhookDeliveriesRequest, context: Any
    ) -> pb.ListWebhookDeliveriesResponse:
        status = contract.DELIVERY_STATUS_FROM_PROTO.get(request.status) if request.status else None
        if request.status and status is None:
            raise InvalidArgument(FieldViolation("status", "unknown status"))
        rows = await self._endpoints.deliveries(request.endpoint_id, status, _page_size(request.page_size))
        return pb.ListWebhookDeliveriesResponse(deliveries=[contract.delivery_to_proto(r) for r in rows])

    async def ReplayWebhookDeliveries(
        self, request: pb.ReplayWebhookDeliveriesRequest, context: Any
    ) -> pb.ReplayWebhookDeliveriesResponse:
        endpoint = await self._endpoints.get(request.endpoint_id)
        replayed = await self._endpoints.replay(str(endpoint["id"]), list(request.delivery_ids))
        self._log.info("webhook deliveries replayed", endpoint_id=request.endpoint_id, count=replayed)
        return pb.ReplayWebhookDeliveriesResponse(replayed=replayed)


def _encode_cursor(row: asyncpg.Record) -> str:
    raw = f"{row['registered_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        moment, _, key = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode().partition("|")
        found = datetime.fromisoformat(moment), uuid.UUID(key)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(FieldViolation("page_token", "page_token is not one this listing gave out")) from None
    if found[0].tzinfo is None:
        raise InvalidArgument(FieldViolation("page_token", "page_token is not one this listing gave out"))
    return found


async def serve(proc: process.Process, chosen: settings.Api) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS, max_size=20)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-partner-api")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    streets = Streets.load(chosen.partner_streets)
    moderation = ModerationCheck(chosen.partner_moderation_addr, chosen.jwt_secret)
    proc.on_stop("moderation channel", moderation.close)
    servicer = PartnerService(
        MerchantStore(pool, chosen.partner_data_keys, chosen.partner_public_url),
        CatalogueStore(pool),
        CampaignStore(pool, streets, chosen.partner_public_url, chosen.partner_campaign_sns_accounts),
        EndpointStore(pool, chosen.partner_data_keys),
        streets,
        moderation,
        chosen,
    )
    server = Server("partner", POLICY, chosen.jwt_secret, host=chosen.listen_host, port=chosen.grpc_port)
    server.add(SERVICE, lambda s: pb_grpc.add_PartnerServiceServicer_to_server(servicer, s))
    port = await proc.grpc(server)
    logs.get("partner.api").info("partner api serving", grpc_port=port)


def main() -> None:
    process.run("partner-api", "partner", settings.Api.load_or_exit(), serve)


if __name__ == "__main__":
    main()
