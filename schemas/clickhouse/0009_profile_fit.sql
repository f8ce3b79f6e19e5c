-- The fit fields of each profile event (../shared/CONTRACT.md §8) as JSON: employees,
-- business_model, customer_segments, regions, certifications, specializations, those the
-- event had. Fit itself is not stored: it is computed from the latest profile and
-- schemas/ideal_partner.yaml whenever it is read, so a changed ideal applies at once.
ALTER TABLE partners
    ADD COLUMN IF NOT EXISTS fit String DEFAULT '' COMMENT 'JSON of the fit fields of this profile event';
