-- origin: ferry_set_origin marks the changes a transaction applies for a
-- peer, so that they are never sent back to it; a transaction cannot commit
-- while its origin is open, and no other write is ever tagged.
.headers on
.mode list
.nullvalue NULL

SELECT ferry_init();
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
SELECT ferry_track('items');

-- ==== outside a transaction it is refused, with a hint
SELECT ferry_set_origin('peer-b');
SELECT ferry_set_origin(NULL);

-- ==== changes between ferry_set_origin('peer-b') and ferry_set_origin(NULL) carry 'peer-b'
BEGIN;
INSERT INTO items VALUES (1, 'local, same transaction, before');
SELECT ferry_set_origin('peer-b');
INSERT INTO items VALUES (2, 'from peer-b');
UPDATE items SET name = 'changed by peer-b' WHERE id = 1;
DELETE FROM items WHERE id = 2;
-- the changes are tagged when the origin closes
SELECT count(*) AS untagged_yet FROM ferry_changes WHERE origin IS NULL;
SELECT ferry_set_origin(NULL);
SELECT count(*) AS untagged_now FROM ferry_changes WHERE origin IS NULL;
INSERT INTO items VALUES (3, 'local, same transaction, after');
COMMIT;
-- later writes are local again
INSERT INTO items VALUES (4, 'local, later');
UPDATE items SET name = 'local update' WHERE id = 1;
SELECT position, operation, key, origin FROM ferry_change_log ORDER BY position;

-- ==== the peer must be named
BEGIN;
SELECT ferry_set_origin('');
SELECT ferry_set_origin();
SELECT ferry_set_origin('a', 'b');
INSERT INTO items VALUES (5, 'local: no origin was set');
COMMIT;
SELECT position, key, origin FROM ferry_change_log WHERE position > 7 ORDER BY position;

-- ==== setting it again replaces the peer
BEGIN;
SELECT ferry_set_origin('peer-c');
SELECT ferry_set_origin('peer-d');
INSERT INTO items VALUES (6, 'from peer-d');
SELECT ferry_set_origin(NULL);
COMMIT;
SELECT position, key, origin FROM ferry_change_log WHERE position > 8 ORDER BY position;

-- ==== a COMMIT while the origin is still set is refused: the transaction rolls back
SELECT count(*) AS changes FROM ferry_changes;
BEGIN;
INSERT INTO items VALUES (7, 'local, before the origin');
SELECT ferry_set_origin('peer-b');
INSERT INTO items VALUES (8, 'from peer-b, never committed');
COMMIT;
-- nothing of that transaction is there
SELECT count(*) AS rows_7_and_8 FROM items WHERE id IN (7, 8);
SELECT count(*) AS changes FROM ferry_changes;
-- and the connection works normally afterwards: autocommit, and transactions commit
INSERT INTO items VALUES (9, 'local, after the refused commit');
BEGIN;
INSERT INTO items VALUES (10, 'local, in a transaction');
COMMIT;
SELECT position, key, origin FROM ferry_change_log WHERE position > 9 ORDER BY position;

-- ==== a ROLLBACK with the origin set leaves the connection able to commit
BEGIN;
SELECT ferry_set_origin('peer-e');
INSERT INTO items VALUES (11, 'from peer-e, rolled back');
ROLLBACK;
BEGIN;
INSERT INTO items VALUES (12, 'local, after the rollback');
COMMIT;
SELECT position, key, origin FROM ferry_change_log WHERE position > 9 ORDER BY position;
SELECT id, name FROM items ORDER BY id;

-- ==== a failing statement inside the transaction does not lose the origin
BEGIN;
SELECT ferry_set_origin('peer-f');
INSERT INTO items VALUES (12, 'duplicate key');
INSERT INTO items VALUES (13, 'from peer-f');
SELECT ferry_set_origin(NULL);
COMMIT;
SELECT position, key, origin FROM ferry_change_log WHERE position > 11 ORDER BY position;

-- ==== transactions opened with SAVEPOINT and BEGIN IMMEDIATE work the same
SAVEPOINT apply;
SELECT ferry_set_origin('peer-g');
INSERT INTO items VALUES (14, 'from peer-g');
SELECT ferry_set_origin(NULL);
RELEASE apply;
BEGIN IMMEDIATE;
SELECT ferry_set_origin('peer-h');
INSERT INTO items VALUES (15, 'from peer-h');
SELECT ferry_set_origin(NULL);
COMMIT;
SAVEPOINT apply;
SELECT ferry_set_origin('peer-i');
INSERT INTO items VALUES (16, 'from peer-i, never committed');
RELEASE apply;
SELECT position, key, origin FROM ferry_change_log WHERE position > 12 ORDER BY position;
SELECT count(*) AS row_16 FROM items WHERE id = 16;
-- after a refused RELEASE, SQLite keeps a (now empty) transaction open
ROLLBACK;

-- ==== savepoints: an origin opened in a rolled-back savepoint tags nothing
-- from before it; a close undone by ROLLBACK TO is redone by closing again
BEGIN;
INSERT INTO items VALUES (17, 'local, before the savepoint');
SAVEPOINT s;
SELECT ferry_set_origin('peer-j');
ROLLBACK TO s;
RELEASE s;
SELECT ferry_set_origin(NULL);
COMMIT;
BEGIN;
SELECT ferry_set_origin('peer-k');
INSERT INTO items VALUES (18, 'from peer-k');
SAVEPOINT s;
SELECT ferry_set_origin(NULL);
ROLLBACK TO s;
RELEASE s;
SELECT origin AS after_rollback_to FROM ferry_changes WHERE key = '{"id":18}';
SELECT ferry_set_origin(NULL);
COMMIT;
INSERT INTO items VALUES (19, 'local, later');
SELECT position, key, origin FROM ferry_change_log WHERE position > 14 ORDER BY position;
