-- =============================================================================
-- V0136__add_point_transactions_local_date
-- Purpose:       the ledger remembers the learner's local date of each award and
--                bonus row, so streaks can be recomputed from the set of active
--                local dates when an award arrives out of order (V0137).
-- Concern:       one new column on gamification.point_transactions.
-- Transactional: yes (one transaction together with its history row).
-- Runs as:       the owner role (SET LOCAL ROLE below).
-- Cost:          a nullable column without default is a catalog change only (no
--                table rewrite, no scan); no CHECK and no index: the ledger insert
--                is the hot path of award_points(), and only SECURITY DEFINER
--                functions write the ledger. Rows written before this migration
--                keep NULL (no backfill: their date is derived on read).
-- =============================================================================
SET LOCAL ROLE ${owner_role};
SET LOCAL search_path = pg_catalog, pg_temp;

ALTER TABLE gamification.point_transactions
ADD COLUMN local_date date;

COMMENT ON COLUMN gamification.point_transactions.local_date IS
'The learner''s local date of occurred_at in users.timezone at the time of posting (V0136): set on award and bonus rows, the rows that count for streaks; NULL on other kinds and on rows written before V0136 (for those the date is derived from occurred_at in the user''s current time zone). A later time zone change never rewrites it.';
