-- perma schema v12: Contentstack's webhook fields that perma keeps and returns without
-- acting on them (`branches`, `notifiers`, `applikation_id`, …), as one JSON object.
-- Keep in step with the other backend's 0012_webhook_fields.sql.
ALTER TABLE webhooks ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
