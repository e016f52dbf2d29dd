-- The optional profile columns may be NULL (not set), and get no '' default: the service reads other
-- teams' tables, which need not fill them. username, name and joined_date stay NOT NULL.
-- docs/decisions/0014-nullable-profile-columns.md says why.
--
-- Applied after 001 on every `stack.sh up` (and once by compose.yaml on a new volume), so it must be
-- idempotent: a column is altered only while it is still NOT NULL or has a default. ALTER TABLE takes
-- an exclusive lock on users, which a running workload should not meet on each start.
DO $$
DECLARE
  col record;
BEGIN
  FOR col IN
    SELECT column_name FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'users'
      AND column_name IN ('description', 'location', 'web_page_url', 'profile_image_url', 'background_image_url')
      AND (is_nullable = 'NO' OR column_default IS NOT NULL)
  LOOP
    EXECUTE format('ALTER TABLE users ALTER COLUMN %I DROP NOT NULL, ALTER COLUMN %I DROP DEFAULT',
                   col.column_name, col.column_name);
  END LOOP;
END
$$;
