-- 009_retention: the retention sweep (src/db/ops/sweepOldRows.ts) walks old settled rows in order, a batch at a
-- time, without scanning the rows it keeps or the recent ones.
-- Webhook deliveries by arrival.
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at, id);
-- Delivered outbox events by delivery time (the pending ones have their own index).
CREATE INDEX events_outbox_delivered ON events_outbox (delivered_at, id) WHERE delivered_at IS NOT NULL;
-- An item's state events (work.*, human.question), newest last: the sweep keeps each item's newest one, from which
-- readItemView reads when the item last changed state.
CREATE INDEX events_outbox_item_state ON events_outbox (item_id, created_at)
  WHERE type LIKE 'work.%' OR type = 'human.question';
