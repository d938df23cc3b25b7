-- perma schema v24: link insights (§17). Delivery answers counted per asset, URL kind
-- (version, permanent, rendition, cda) and status class (ok = 200/206, not_modified,
-- not_found, gone, other): hourly rows for the last 30 days, then rolled up into daily
-- ones. Referring pages (scheme, host and path of the Referer; nothing else of the
-- client) per asset, day and whether the answer was a dead link, kept as the top N per
-- asset and day plus one '' row for the others. The time indexes cover the stack-wide
-- lists (top, dead links): a range of a stack is read from the index alone. The stack's `insights` setting turns
-- counting off. Keep in step with the other backend's 0024_insights.sql.
CREATE TABLE traffic_hourly (
    api_key TEXT NOT NULL,
    asset_uid TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    requests BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (api_key, asset_uid, at, kind, status)
);
CREATE INDEX traffic_hourly_by_time ON traffic_hourly (api_key, at, status, asset_uid, requests, bytes);
CREATE TABLE traffic_daily (
    api_key TEXT NOT NULL,
    asset_uid TEXT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    requests BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (api_key, asset_uid, at, kind, status)
);
CREATE INDEX traffic_daily_by_time ON traffic_daily (api_key, at, status, asset_uid, requests, bytes);
CREATE TABLE traffic_referrers (
    api_key TEXT NOT NULL,
    asset_uid TEXT NOT NULL,
    day BIGINT NOT NULL,
    dead BIGINT NOT NULL,
    referrer TEXT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (api_key, asset_uid, day, dead, referrer)
);
CREATE INDEX traffic_referrers_by_day ON traffic_referrers (api_key, day);
ALTER TABLE stacks ADD COLUMN insights BIGINT NOT NULL DEFAULT 1;
