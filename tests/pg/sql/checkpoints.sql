-- Checkpoints: begin, advance, complete, fail, and where to resume
CREATE EXTENSION ferry;
\set SHOW_CONTEXT never

-- nothing recorded: start
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders', '1 hour');
SELECT job, scope, status, position, total, done FROM ferry.checkpoint_begin('copy', 'orders', 1000);
SELECT ferry.checkpoint_advance('copy', 'orders', '{"key": [250]}', 250);
-- crashed or interrupted while running: resume from the position
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders', '1 hour');
-- data and checkpoint in one transaction: a rollback loses neither more nor less
BEGIN;
SELECT ferry.checkpoint_advance('copy', 'orders', '{"key": [500]}', 500);
ROLLBACK;
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders');
-- resuming keeps the position
SELECT status, position, done FROM ferry.checkpoint_begin('copy', 'orders');
SELECT ferry.checkpoint_fail('copy', 'orders', 'connection lost');
SELECT status, last_error FROM ferry.checkpoints;
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders', '1 hour');
SELECT status, position, done FROM ferry.checkpoint_begin('copy', 'orders');
SELECT ferry.checkpoint_complete('copy', 'orders');
SELECT status, done, last_error, last_completed_at IS NOT NULL AS completed FROM ferry.checkpoints;
-- completed within the freshness threshold: nothing to do
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders', '1 hour');
-- no threshold, or completed too long ago: start over
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders');
UPDATE ferry.checkpoints SET last_completed_at = now() - interval '2 hours';
SELECT * FROM ferry.checkpoint_resume_point('copy', 'orders', '1 hour');
-- beginning after completion starts from scratch
SELECT status, position, done FROM ferry.checkpoint_begin('copy', 'orders');
-- restart => true discards a position
SELECT ferry.checkpoint_advance('copy', 'orders', '7', 7);
SELECT status, position, done FROM ferry.checkpoint_begin('copy', 'orders', restart => true);

-- errors
SELECT ferry.checkpoint_advance('nope', '', '1', 1);
SELECT ferry.checkpoint_complete('nope');
SELECT ferry.checkpoint_fail('nope', '', 'x');
SELECT ferry.checkpoint_complete('copy', 'orders');
SELECT ferry.checkpoint_advance('copy', 'orders', '1', 1);
