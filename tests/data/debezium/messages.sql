-- Logical decoding messages pass: non-transactional, then transactional (text and bytes).
SELECT pg_logical_emit_message(false, 'golden-nontx', 'non-transactional text');
BEGIN;
INSERT INTO golden.small VALUES (1, 'beside the messages');
SELECT pg_logical_emit_message(true, 'golden-tx', 'transactional text');
SELECT pg_logical_emit_message(true, 'golden-bin', '\x00ff10'::bytea);
COMMIT;
