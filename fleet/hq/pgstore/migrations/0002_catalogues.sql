-- Signed catalogue objects (bundle format v2): products and partners as
-- their own object, named by the SHA-256 of its bytes, that bundles refer
-- to. content_key names what was sealed (HQ key, scope, products,
-- partners) so a publish of unchanged content reuses the object.
CREATE TABLE catalogues (
	address     text COLLATE "C" PRIMARY KEY,
	content_key text NOT NULL,
	data        bytea NOT NULL
);
CREATE INDEX catalogues_content_key ON catalogues (content_key);

-- The object a bundle names travels with the bundle row: dropping the
-- bundle drops the reference, and an object is kept while one refers to it.
ALTER TABLE bundles ADD COLUMN catalogue text COLLATE "C" REFERENCES catalogues (address);
CREATE INDEX bundles_catalogue ON bundles (catalogue) WHERE catalogue IS NOT NULL;
