-- Truncate pass (skipped.operations=none): one table, then two in one statement.
INSERT INTO golden.small VALUES (1, 'a');
INSERT INTO golden.small2 VALUES (1, 'b');
TRUNCATE golden.small;
TRUNCATE golden.small, golden.small2;
