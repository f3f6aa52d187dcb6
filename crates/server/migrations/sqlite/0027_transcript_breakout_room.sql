-- A caption said in a breakout room is kept in the meeting's transcript, marked with the room
-- (1-based); NULL: the main room.
ALTER TABLE transcript_lines ADD COLUMN breakout_room INTEGER;
