"""The partner schema's merchants and products: the workflow and the catalogue, with their events and history.

Every transaction that changes what a feed of a group shows first locks the group's row (`feed_groups`) and
takes the next group version; that single lock order (group, then merchant or product rows) keeps concurrent
writers free of deadlocks and gives the summary EP a commit-ordered cursor. Merchant changes are announced on
`partner.merchant-changed.v1` through the outbox, in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.partner.v1 import partner_events_pb2 as ev
from sotong_common import at_rest, database, events, outbox, topics
from sotong_common.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from sotong_partner import merchant as domain
from sotong_partner.catalogue import Option, Product

SOURCE = "partner"

KIND_TO_PROTO = {
    domain.MERCHANT: ev.MERCHANT_KIND_MERCHANT,
    domain.SOCIAL_ENTERPRISE: ev.MERCHANT_KIND_SOCIAL_ENTERPRISE,
}
STATUS_TO_PROTO = {
    domain.PENDING: ev.MERCHANT_STATUS_PENDING,
    domain.VERIFIED: ev.MERCHANT_STATUS_VERIFIED,
    domain.REJECTED: ev.MERCHANT_STATUS_REJECTED,
    domain.SUSPENDED: ev.MERCHANT_STATUS_SUSPENDED,
}
CHANGE_TO_PROTO = {
    "registered": ev.MERCHANT_CHANGE_REGISTERED,
    "verified": ev.MERCHANT_CHANGE_VERIFIED,
    "rejected": ev.MERCHANT_CHANGE_REJECTED,
    "suspended": ev.MERCHANT_CHANGE_SUSPENDED,
    "reinstated": ev.MERCHANT_CHANGE_REINSTATED,
    "consent_changed": ev.MERCHANT_CHANGE_CONSENT_CHANGED,
}

_PRODUCT_COLUMNS = (
    "sku, title, description, price, sale_price, stock, image_url, additional_image_urls, category, shipping_fee,"
    " cash_on_delivery, options, status, link"
)


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@dataclass(frozen=True)
class MerchantView:
    row: asyncpg.Record
    consents: list[asyncpg.Record]
    history: list[asyncpg.Record]


@dataclass(frozen=True)
class Stored:
    product: Product
    row: asyncpg.Record
    created: bool
    changed: bool


def product_from_row(row: asyncpg.Record) -> Product:
    options = row["options"]
    if isinstance(options, str):
        options = json.loads(options)
    return Product(
        sku=row["sku"],
        title=row["title"],
        description=row["description"],
        price=row["price"],
        sale_price=row["sale_price"],
        stock=row["stock"],
        image_url=row["image_url"],
        additional_image_urls=tuple(row["additional_image_urls"]),
        category=tuple(row["category"]),
        shipping_fee=row["shipping_fee"],
        cash_on_delivery=row["cash_on_delivery"],
        options=tuple(Option(o["name"], o["value"], int(o.get("extra_price", 0))) for o in options),
        status=row["status"],
        link=row["link"],
    )


def _options_json(product: Product) -> str:
    return json.dumps(
        [{"name": o.name, "value": o.value, "extra_price": o.extra_price} for o in product.options],
        ensure_ascii=False,
    )


async def lock_group(conn: database.Connection, group: str) -> int:
    """Lock the group's row (first, always) and return its current version."""
    version = await conn.fetchval("SELECT version FROM feed_groups WHERE name = $1 FOR UPDATE", group)
    if version is None:
        raise NotFound(f"no feed group {group}")
    return int(version)


async def next_version(conn: database.Connection, group: str) -> int:
    return int(
        await conn.fetchval("UPDATE feed_groups SET version = version + 1 WHERE name = $1 RETURNING version", group)
    )


class MerchantStore:
    def __init__(self, pool: asyncpg.Pool, keys: at_rest.KeyRing, public_url: str) -> None:
        self.pool = pool
        self._keys = keys
        self._public_url = public_url.rstrip("/")

    def homepage_url(self, slug: str) -> str:
        return f"{self._public_url}/m/{slug}"

    def feed_urls(self, group: str, formats: Sequence[str]) -> dict[str, str]:
        return {name: f"{self._public_url}/ep/{group}/{name}/full.tsv" for name in formats}

    # -- reading ------------------------------------------------------------------------------------------------

    async def get(self, merchant_id: str, conn: database.Connection | None = None) -> MerchantView | None:
        try:
            key = uuid.UUID(merchant_id)
        except ValueError:
            raise InvalidArgument(FieldViolation("merchant_id", "merchant_id must be a UUID")) from None

        async def read(c: database.Connection) -> MerchantView | None:
            row = await c.fetchrow("SELECT * FROM merchants WHERE id = $1", key)
            if row is None:
                return None
            consents = await c.fetch("SELECT * FROM consents WHERE merchant_id = $1 ORDER BY platform", key)
            history = await c.fetch(
                "SELECT * FROM merchant_history WHERE merchant_id = $1 AND change <> 'consent_changed' ORDER BY id", key
            )
            return MerchantView(row, list(consents), list(history))

        if conn is not None:
            return await read(conn)
        async with self.pool.acquire() as c:
            return await read(c)

    async def by_slug(self, slug: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow("SELECT * FROM merchants WHERE slug = $1", slug)
        return row

    def contacts(self, row: asyncpg.Record) -> list[domain.ContactPerson]:
        return domain.open_contacts(row["contacts"], self._keys, str(row["id"]))

    async def record_reveal(self, merchant_id: uuid.UUID, subject: str) -> None:
        await self.pool.execute(
            "INSERT INTO contact_reveals (merchant_id, revealed_to) VALUES ($1, $2)", merchant_id, subject
        )

    async def page(
        self, status: str | None, street: str | None, limit: int, after: tuple[datetime, uuid.UUID] | None
    ) -> list[asyncpg.Record]:
        clauses: list[str] = ["TRUE"]
        args: list[Any] = []
        for sql, value in (("status = $%d", status), ("street_code = $%d", street)):
            if value is not None:
                args.append(value)
                clauses.append(sql % len(args))
        if after is not None:
            args.extend(after)
            clauses.append(f"(registered_at, id) > (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        return list(
            await self.pool.fetch(
                f"SELECT * FROM merchants WHERE {' AND '.join(clauses)} ORDER BY registered_at, id LIMIT ${len(args)}",
                *args,
            )
        )

    async def consents_of(self, merchant_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[asyncpg.Record]]:
        rows = await self.pool.fetch(
            "SELECT * FROM consents WHERE merchant_id = ANY($1::uuid[]) ORDER BY platform", list(merchant_ids)
        )
        found: dict[uuid.UUID, list[asyncpg.Record]] = {}
        for row in rows:
            found.setdefault(row["merchant_id"], []).append(row)
        return found

    # -- changing -----------------------------------------------------------------------------------------------

    async def register(self, reg: domain.Registration, owner: str) -> tuple[MerchantView, bool]:
        merchant_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO feed_groups (name) VALUES ($1) ON CONFLICT DO NOTHING", reg.feed_group)
            await lock_group(conn, reg.feed_group)
            existing = await conn.fetchrow(
                "SELECT id, owner FROM merchants WHERE business_number = $1", reg.business_number
            )
            if existing is not None:
                if existing["owner"] != owner:
                    raise AlreadyExists("a merchant with this business_number is already registered")
                view = await self.get(str(existing["id"]), conn)
                assert view is not None
                return view, False
            if await conn.fetchval("SELECT 1 FROM merchants WHERE slug = $1", reg.slug):
                raise InvalidArgument(FieldViolation("slug", f"slug {reg.slug!r} is taken: choose another"))
            await conn.execute(
                "INSERT INTO merchants (id, slug, name, kind, status, business_number, certification, street_code,"
                " address, lat, lng, phone, description, shop_url, feed_group, contacts, owner)"
                " VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                merchant_id,
                reg.slug,
                reg.name,
                reg.kind,
                reg.business_number,
                reg.certification,
                reg.street_code,
                reg.address,
                reg.lat,
                reg.lng,
                reg.phone,
                reg.description,
                reg.shop_url,
                reg.feed_group,
                domain.seal_contacts(reg.contacts, self._keys, str(merchant_id)),
                owner,
            )
            for platform, granted in reg.consents.items():
                await conn.execute(
                    "INSERT INTO consents (merchant_id, platform, granted, changed_by) VALUES ($1, $2, $3, $4)",
                    merchant_id,
                    platform,
                    granted,
                    owner,
                )
            await self._history(conn, merchant_id, "registered", domain.PENDING, owner)
            await self._announce(conn, merchant_id, "registered", owner)
            view = await self.get(str(merchant_id), conn)
        assert view is not None
        return view, True

    async def verify(self, merchant_id: str, decision: str, note: str, by: str) -> MerchantView:
        async with self.pool.acquire() as conn, conn.transaction():
            current = await self.get(merchant_id, conn)
            if current is None:
                raise NotFound(f"no merchant {merchant_id}")
            await lock_group(conn, current.row["feed_group"])
            row = await conn.fetchrow("SELECT * FROM merchants WHERE id = $1 FOR UPDATE", current.row["id"])
            assert row is not None
            if row["owner"] == by:
                raise FailedPrecondition("the person who registered a merchant cannot also verify it")
            try:
                to, change = domain.transition(decision, row["status"], note)
            except ValueError as exc:
                field, _, why = str(exc).partition(": ")
                raise InvalidArgument(FieldViolation(field, why)) from None
            version = await next_version(conn, row["feed_group"])
            listed = to == domain.VERIFIED
            await conn.execute(
                "UPDATE merchants SET status = $2, version = version + 1, updated_at = now(),"
                " listed_gv = CASE WHEN $3 THEN $4 ELSE listed_gv END WHERE id = $1",
                row["id"],
                to,
                listed,
                version,
            )
            await self._touch_products(conn, row["id"], version)
            await self._history(conn, row["id"], change, to, by, note=note)
            await self._announce(conn, row["id"], change, by)
            view = await self.get(merchant_id, conn)
        assert view is not None
        return view

    async def set_consent(self, merchant_id: str, platform: str, granted: bool, by: str) -> tuple[MerchantView, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            current = await self.get(merchant_id, conn)
            if current is None:
                raise NotFound(f"no merchant {merchant_id}")
            await lock_group(conn, current.row["feed_group"])
            key = current.row["id"]
            was = await conn.fetchval(
                "SELECT granted FROM consents WHERE merchant_id = $1 AND platform = $2 FOR UPDATE", key, platform
            )
            if was is granted or (was is None and not granted):
                return current, False
            version = await next_version(conn, current.row["feed_group"])
            await conn.execute(
                "INSERT INTO consents (merchant_id, platform, granted, changed_by, changed_gv)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, platform) DO UPDATE"
                " SET granted = $3, changed_by = $4, changed_gv = $5, changed_at = now()",
                key,
                platform,
                granted,
                by,
                version,
            )
            await conn.execute("UPDATE merchants SET version = version + 1, updated_at = now() WHERE id = $1", key)
            await self._touch_products(conn, key, version)
            await self._history(
                conn,
                key,
                "consent_changed",
                current.row["status"],
                by,
                platform=platform,
                note="granted" if granted else "withdrawn",
            )
            await self._announce(conn, key, "consent_changed", by, platform=platform)
            view = await self.get(merchant_id, conn)
        assert view is not None
        return view, True

    async def _touch_products(self, conn: database.Connection, merchant_id: uuid.UUID, version: int) -> None:
        """The merchant's listing changed: every product of it is news for the next summary EP."""
        await conn.execute(
            "UPDATE products SET changed_gv = $2, changed_at = now() WHERE merchant_id = $1", merchant_id, version
        )

    async def _history(
        self,
        conn: database.Connection,
        merchant_id: uuid.UUID,
        change: str,
        status: str,
        by: str,
        *,
        note: str = "",
        platform: str | None = None,
    ) -> None:
        await conn.execute(
            "INSERT INTO merchant_history (merchant_id, change, status, platform, note, changed_by)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            merchant_id,
            change,
            status,
            platform,
            note,
            by,
        )

    async def _announce(
        self, conn: database.Connection, merchant_id: uuid.UUID, change: str, by: str, *, platform: str = ""
    ) -> None:
        row = await conn.fetchrow("SELECT * FROM merchants WHERE id = $1", merchant_id)
        assert row is not None
        consents = await conn.fetch("SELECT * FROM consents WHERE merchant_id = $1 ORDER BY platform", merchant_id)
        message = ev.MerchantChanged(
            merchant_id=str(merchant_id),
            slug=row["slug"],
            name=row["name"],
            kind=KIND_TO_PROTO[row["kind"]],
            status=STATUS_TO_PROTO[row["status"]],
            change=CHANGE_TO_PROTO[change],
            street_code=row["street_code"] or "",
            feed_group=row["feed_group"],
            consents=[
                ev.Consent(platform=c["platform"], granted=c["granted"], changed_at=_stamp(c["changed_at"]))
                for c in consents
            ],
            platform=platform,
            changed_by=by,
            changed_at=_stamp(row["updated_at"]),
            version=row["version"],
            homepage_url=self.homepage_url(row["slug"]),
        )
        topic = topics.PARTNER_MERCHANT_CHANGED
        await outbox.add(conn, topic, str(merchant_id), message, events.EventMetadata.new(topic, SOURCE))


class Replayed(Exception):
    """An inbound webhook id that was already received."""


async def _receive(conn: database.Connection, receipt: tuple[str, str] | None) -> None:
    """Record an inbound webhook's id in the transaction of its effect: a redelivery changes nothing twice."""
    if receipt is None:
        return
    inserted = await conn.fetchval(
        "INSERT INTO webhook_receipts (source, webhook_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        *receipt,
    )
    if inserted is None:
        raise Replayed(receipt[1])


class CatalogueStore:
    """Products by (merchant, sku): stored once, changed only when their content changes, with history."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def upsert(
        self, merchant: asyncpg.Record, product: Product, by: str, source: str, receipt: tuple[str, str] | None = None
    ) -> Stored:
        async with self.pool.acquire() as conn, conn.transaction():
            await _receive(conn, receipt)
            await lock_group(conn, merchant["feed_group"])
            row = await conn.fetchrow(
                "SELECT * FROM products WHERE merchant_id = $1 AND sku = $2 FOR UPDATE", merchant["id"], product.sku
            )
            if row is None:
                version = await next_version(conn, merchant["feed_group"])
                row = await conn.fetchrow(
                    f"INSERT INTO products (merchant_id, {_PRODUCT_COLUMNS}, changed_gv, listed_gv)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14, $15, $16, $16)"
                    " RETURNING *",
                    merchant["id"],
                    *self._values(product),
                    version,
                )
                assert row is not None
                await self._history(conn, row, "created", [], by, source)
                return Stored(product, row, True, True)
            before = product_from_row(row)
            deleted = row["deleted_at"] is not None
            fields = before.changed_fields(product)
            if not fields and not deleted:
                return Stored(before, row, False, False)
            version = await next_version(conn, merchant["feed_group"])
            newly_listable = product.listable and (deleted or not before.listable)
            row = await conn.fetchrow(
                "UPDATE products SET title = $3, description = $4, price = $5, sale_price = $6, stock = $7,"
                " image_url = $8, additional_image_urls = $9, category = $10, shipping_fee = $11,"
                " cash_on_delivery = $12, options = $13::jsonb, status = $14, link = $15, deleted_at = NULL,"
                " version = version + 1, updated_at = now(), changed_at = now(), changed_gv = $16,"
                " listed_gv = CASE WHEN $17 THEN $16 ELSE listed_gv END"
                " WHERE merchant_id = $1 AND sku = $2 RETURNING *",
                merchant["id"],
                *self._values(product),
                version,
                newly_listable,
            )
            assert row is not None
            await self._history(conn, row, "restored" if deleted else "updated", fields, by, source)
            return Stored(product, row, False, True)

    async def delete(
        self, merchant: asyncpg.Record, sku: str, by: str, source: str, receipt: tuple[str, str] | None = None
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await _receive(conn, receipt)
            await lock_group(conn, merchant["feed_group"])
            row = await conn.fetchrow(
                "SELECT deleted_at FROM products WHERE merchant_id = $1 AND sku = $2 FOR UPDATE", merchant["id"], sku
            )
            if row is None:
                raise NotFound(f"no product {sku}")
            if row["deleted_at"] is not None:
                return False
            version = await next_version(conn, merchant["feed_group"])
            updated = await conn.fetchrow(
                "UPDATE products SET deleted_at = now(), version = version + 1, updated_at = now(), changed_at = now(),"
                " changed_gv = $3 WHERE merchant_id = $1 AND sku = $2 RETURNING *",
                merchant["id"],
                sku,
                version,
            )
            assert updated is not None
            await self._history(conn, updated, "deleted", [], by, source)
            return True

    async def get(self, merchant_id: uuid.UUID, sku: str) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM products WHERE merchant_id = $1 AND sku = $2", merchant_id, sku)
            if row is None:
                return None
            history = await conn.fetch(
                "SELECT * FROM product_history WHERE merchant_id = $1 AND sku = $2 ORDER BY version", merchant_id, sku
            )
            return row, list(history)

    async def page(self, merchant_id: uuid.UUID, limit: int, after: str | None) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM products WHERE merchant_id = $1 AND deleted_at IS NULL AND sku > $2"
                " ORDER BY sku LIMIT $3",
                merchant_id,
                after or "",
                limit,
            )
        )

    async def for_homepage(self, merchant_id: uuid.UUID) -> list[asyncpg.Record]:
        """What the homepage shows: every product not deleted or hidden (sold-out ones marked), newest last."""
        return list(
            await self.pool.fetch(
                "SELECT * FROM products WHERE merchant_id = $1 AND deleted_at IS NULL AND status = 'on_sale'"
                " ORDER BY created_at, sku LIMIT 500",
                merchant_id,
            )
        )

    @staticmethod
    def _values(product: Product) -> list[Any]:
        return [
            product.sku,
            product.title,
            product.description,
            product.price,
            product.sale_price,
            product.stock,
            product.image_url,
            list(product.additional_image_urls),
            list(product.category),
            product.shipping_fee,
            product.cash_on_delivery,
            _options_json(product),
            product.status,
            product.link,
        ]

    @staticmethod
    async def _history(
        conn: database.Connection, row: asyncpg.Record, change: str, fields: list[str], by: str, source: str
    ) -> None:
        await conn.execute(
            "INSERT INTO product_history (merchant_id, sku, version, change, fields, changed_by, source)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            row["merchant_id"],
            row["sku"],
            row["version"],
            change,
            fields,
            by,
            source,
        )
