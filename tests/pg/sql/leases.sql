-- Leases: try_lock, unlock, expiry, ferry.locks
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never

SELECT ferry.try_lock('sync:hub->site1', 'host-a:123', '10 minutes');
-- held: another holder cannot take it, the holder can renew it
SELECT ferry.try_lock('sync:hub->site1', 'host-b:456', '10 minutes');
SELECT ferry.try_lock('sync:hub->site1', 'host-a:123', '10 minutes');
SELECT name, holder, expires_at > now() + interval '9 minutes' AS renewed FROM ferry.locks;
-- a crashed holder never blocks forever: once expired, the lease can be taken over
UPDATE ferry.locks SET expires_at = clock_timestamp() - interval '1 second';
SELECT ferry.try_lock('sync:hub->site1', 'host-b:456', '1 minute');
SELECT name, holder FROM ferry.locks;
-- only the holder releases it; a DBA can force it (ferry unlock NAME)
SELECT ferry.unlock('sync:hub->site1', 'host-a:123');
SELECT ferry.unlock('sync:hub->site1', 'host-b:456');
SELECT ferry.unlock('sync:hub->site1', 'host-b:456');
SELECT ferry.try_lock('job', 'x', '1 minute');
SELECT ferry.unlock('job', NULL);
SELECT ferry.force_unlock('job');
SELECT ferry.force_unlock('job');
SELECT count(*) FROM ferry.locks;
-- bad arguments
SELECT ferry.try_lock('job', 'x', '0 seconds');
SELECT ferry.try_lock('job', '', '1 minute');
SELECT ferry.try_lock('job', NULL, '1 minute');
