-- Transaction metadata pass (provide.transaction.metadata=true): after schema.sql.
BEGIN;
INSERT INTO golden.small VALUES (1, 'a'), (2, 'b');
INSERT INTO golden.small2 VALUES (1, 'x');
COMMIT;
UPDATE golden.small SET v = 'c' WHERE id = 1;
DELETE FROM golden.small2 WHERE id = 1;
