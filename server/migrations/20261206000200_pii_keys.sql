-- Key rotation (issue #21). The sealing keys that personal data may be sealed with, and for each petitioner
-- the key that sealed their ID number, phone and address. A foreign key, not a convention: `keys rotate`
-- retires the old key by deleting its row, which PostgreSQL refuses while any row still names it, including
-- a row a registration is inserting at that moment (it holds a KEY SHARE lock on the key's row). So a key is
-- only ever forgotten when nothing needs it.
CREATE TABLE pii_keys (
    id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Databases of the single-key era recorded that key's fingerprint, which is its id.
INSERT INTO pii_keys (id)
SELECT value FROM settings WHERE name = 'pii_key_fingerprint';

ALTER TABLE petitioners ADD COLUMN seal_key text REFERENCES pii_keys (id);
UPDATE petitioners SET seal_key = (SELECT value FROM settings WHERE name = 'pii_key_fingerprint')
WHERE id_number_enc IS NOT NULL OR phone_enc IS NOT NULL OR address_enc IS NOT NULL;
-- The rotation finds the rows still sealed with an old key, and the foreign key's check on a retirement
-- needs an index on the referencing column anyway.
CREATE INDEX petitioners_seal_key_idx ON petitioners (seal_key, id) WHERE seal_key IS NOT NULL;
-- Sealed values without a key id: written by a binary older than this migration while a newer one ran (a
-- rolling upgrade), or by bulk loads. A rotation seals them again too; normally this index is empty.
CREATE INDEX petitioners_unkeyed_idx ON petitioners (id)
    WHERE seal_key IS NULL
      AND (id_number_enc IS NOT NULL OR phone_enc IS NOT NULL OR address_enc IS NOT NULL);

-- The match key (the HMAC of ID numbers) never rotates; the service records its fingerprint at the next start.
DELETE FROM settings WHERE name = 'pii_key_fingerprint';
