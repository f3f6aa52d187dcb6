-- Chat sent to everyone in a breakout room is kept with the meeting's chat, marked with the
-- room (1-based); NULL: the main room (or a private message).
ALTER TABLE chat_messages ADD COLUMN breakout_room INTEGER;
