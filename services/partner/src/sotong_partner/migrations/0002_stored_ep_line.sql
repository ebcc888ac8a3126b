-- The full Naver EP line of each product, kept when the product is written (feed_store: a pull of the full EP
-- is then a copy of one stored column instead of rendering fifty columns per row at read time).
--
-- The line is rendered by naver_ep_line below, whose text is exactly feed_store.stored_line_function(EP3) (a unit
-- test holds them together: a change to the EP's columns needs a new migration replacing the function and
-- re-rendering the lines). It reads only the product's own columns and its merchant's slug; the public base URL
-- is configuration and stands as \x03 in the stored line (the pull puts the configured URL in). Whether a product
-- is listed is not in the line: the pull still decides it from the product's and the merchant's columns.

ALTER TABLE products ADD COLUMN naver_ep text;

CREATE OR REPLACE FUNCTION naver_ep_line(p products, merchant_slug text) RETURNS text LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$ SELECT concat(m.slug || '_' || p.sku, E'\t', p.feed_title, E'\t', COALESCE(p.sale_price, p.price), E'\t', COALESCE(p.sale_price, p.price), E'\t', CASE WHEN p.sale_price IS NOT NULL THEN p.price END, E'\t', COALESCE(p.link, m.page || p.sku), E'\t', m.page || p.sku, E'\t', p.image_url, E'\t', NULLIF(array_to_string(p.additional_image_urls, '|'), ''), E'\t', p.category[1], E'\t', p.category[2], E'\t', p.category[3], E'\t', p.category[4], E'\t\t\t', '신상품', E'\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t', CASE WHEN p.cash_on_delivery THEN -1 ELSE p.shipping_fee END, E'\t\t\t\t', CASE WHEN p.options = '[]'::jsonb THEN NULL ELSE (SELECT string_agg((o->>'name') || ':' || (o->>'value') || '^' || (o->>'extra_price'), '|') FROM jsonb_array_elements(p.options) AS o) END, E'\t', m.slug, E'\t\t') FROM (SELECT merchant_slug AS slug, E'\x03/m/' || merchant_slug || '#p-' AS page) m $$;

-- Every insert, and every update of a column the line reads, renders the line in the writing transaction.
-- feed_title is generated after BEFORE triggers run, so it is computed here as its definition (0001) does.
CREATE FUNCTION products_render_naver_ep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    p products := NEW;
BEGIN
    p.feed_title := btrim(regexp_replace(regexp_replace(NEW.title, '<[^>]*>', ' ', 'g'), '\s+', ' ', 'g'));
    NEW.naver_ep := naver_ep_line(p, (SELECT slug FROM merchants WHERE id = NEW.merchant_id));
    RETURN NEW;
END $$;

-- A merchant's slug is in its products' lines (id, seller_id, the page URL). Registration fixes it today; should
-- it ever change, the merchant's lines are re-rendered in the same transaction.
CREATE FUNCTION merchants_rerender_naver_ep() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE products p SET naver_ep = naver_ep_line(p, NEW.slug) WHERE p.merchant_id = NEW.id;
    RETURN NULL;
END $$;

UPDATE products p SET naver_ep = naver_ep_line(p, m.slug) FROM merchants m WHERE m.id = p.merchant_id;
ALTER TABLE products ALTER COLUMN naver_ep SET NOT NULL;

CREATE TRIGGER products_naver_ep BEFORE INSERT OR UPDATE OF merchant_id, sku, title, price, sale_price, link,
    image_url, additional_image_urls, category, shipping_fee, cash_on_delivery, options
    ON products FOR EACH ROW EXECUTE FUNCTION products_render_naver_ep();

CREATE TRIGGER merchants_naver_ep AFTER UPDATE OF slug ON merchants
    FOR EACH ROW WHEN (OLD.slug IS DISTINCT FROM NEW.slug) EXECUTE FUNCTION merchants_rerender_naver_ep();
