-- Cluster mode: a seat's slot subscription (the video slots asked for at join), so a meeting
-- rebuilt on another node gives it back; NULL: one m-line per remote track.
ALTER TABLE live_seats ADD COLUMN video_slots BIGINT;
