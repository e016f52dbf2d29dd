-- A table of the capture's own, which Debezium's heartbeat writes to (heartbeat.action.query in
-- stack/connect/debezium-postgres.json). Each write is a captured change, so the connector's stored
-- offset moves past every earlier commit within a heartbeat interval even when the source tables are
-- quiet; read-your-writes (decision 0015) waits for that offset. The service never reads it.
--
-- Idempotent (applied on every `stack.sh up`); on a stack whose publication Debezium created before
-- this table existed, the table is added to it.
CREATE TABLE IF NOT EXISTS uis_heartbeat (
  id      smallint    PRIMARY KEY,
  beat_at timestamptz NOT NULL
);

DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_publication WHERE pubname = 'uis_debezium')
     AND NOT EXISTS (SELECT FROM pg_publication_tables
                     WHERE pubname = 'uis_debezium' AND tablename = 'uis_heartbeat') THEN
    ALTER PUBLICATION uis_debezium ADD TABLE uis_heartbeat;
  END IF;
END
$$;
