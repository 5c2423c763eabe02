-- Heartbeat pass (heartbeat.interval.ms small): one change, then heartbeats while idle.
INSERT INTO golden.small VALUES (1, 'before the heartbeats');
