-- Primary-key change pass: an UPDATE of the key (delete + tombstone + create, with headers).
INSERT INTO golden.small VALUES (1, 'a');
UPDATE golden.small SET id = 100 WHERE id = 1;
UPDATE golden.small SET id = 200, v = 'b' WHERE id = 100;
