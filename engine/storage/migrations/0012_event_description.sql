-- An event's description (issue 12): plain text the event page shows with its line breaks.
-- Bounded like the API bounds it (gateway/fields.py `Description`): NFC, at most 5000
-- characters, no control character but the line feed and the tab. Empty when none is given,
-- so readers never meet NULL.
ALTER TABLE events
    ADD COLUMN description text NOT NULL DEFAULT '',
    ADD CONSTRAINT description_text CHECK (
        char_length(description) <= 5000
        AND description !~ '[\u0001-\u0008\u000b-\u001f\u007f-\u009f]'
        AND description IS NFC NORMALIZED);
