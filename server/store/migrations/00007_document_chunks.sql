-- A document's bytes are stored in chunks of at most 256 KiB, so that a
-- download reads (and holds in memory) one chunk at a time: a database reads
-- a whole value even to return part of it. Documents stored before keep
-- their bytes in documents.data; new ones leave it empty.

-- +goose Up
CREATE TABLE document_chunks (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    data        BYTEA NOT NULL,
    PRIMARY KEY (document_id, seq)
);

-- +goose Down
DROP TABLE document_chunks;
