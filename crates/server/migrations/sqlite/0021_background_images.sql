-- A virtual background image each account may upload (Settings → Default background), kept
-- as a JPEG scaled to fit 1920×1080; its ETag changes with the image.
ALTER TABLE users ADD COLUMN background BLOB;
ALTER TABLE users ADD COLUMN background_etag TEXT;
