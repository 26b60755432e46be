-- Plugins: each plugin's key-value store, and what plugins said about the items they judged.

-- One namespace per plugin name. The host caps each plugin's total size (keys + values);
-- expired rows count for nothing and are removed when the plugin next writes.
CREATE TABLE plugin_kv (
    plugin     TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    expires_at INTEGER,             -- unix ms; NULL = until deleted
    PRIMARY KEY (plugin, key)
);

-- Labels and notes for the operator, kept with the item judged (a reply's or follow's id).
CREATE TABLE plugin_marks (
    item       TEXT NOT NULL,       -- the remote Note id, or the Follow id
    plugin     TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('label', 'note')),
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL,    -- unix ms
    PRIMARY KEY (item, plugin, kind, text)
);
