-- News dedupe (issue #6 follow-up). Each delivery keeps its title as normalized for dedupe
-- (bot.domain.feed_entries.dedupe_title: NFKC, case folded, invisible characters and a known " - Source" suffix
-- removed), so the poller compares new stories with a server's recent ones without normalizing those again.
-- Rows written before this migration hold '' and are normalized when read. Equal-fingerprint lookups over the
-- whole dedupe window use the new index instead of reading every recent row.
ALTER TABLE news_deliveries ADD COLUMN title_normalized TEXT NOT NULL DEFAULT '';
CREATE INDEX news_deliveries_fingerprint ON news_deliveries (guild_id, title_fingerprint, created_at);
