-- The directory's search table: per practice, its name, specialties, city,
-- postal code and languages folded for matching (lower case, accents
-- removed, punctuation as spaces), so "elodie" finds "Élodie" and "dupr"
-- finds "Dupré", plus the two flags the filters need. The folding is done
-- in Go (SQLite's lower() knows only ASCII and nothing in SQLite removes
-- accents), so app/directory.go writes the rows (refreshSearch).
--
-- To keep them exact whichever code path changes a practice or its types,
-- triggers list the practices whose row must be rebuilt in
-- practice_search_dirty (only when a column the row is made from really
-- changed); the directory rebuilds those before each search. When nothing
-- changed, that check reads one empty table.

-- Clustered by folded name: a search reads the table in result order, so
-- a page needs no sort and no lookup per row.
CREATE TABLE practice_search (
	name_key         TEXT NOT NULL,    -- folded name
	practice_id      TEXT NOT NULL UNIQUE REFERENCES practices(id) ON DELETE CASCADE,
	verified         INTEGER NOT NULL, -- status = 'verified'
	teleconsultation INTEGER NOT NULL, -- an active teleconsultation type exists
	specialties_key  TEXT NOT NULL,    -- folded specialties, '|' between them
	city_key         TEXT NOT NULL,    -- folded city
	postal_key       TEXT NOT NULL,    -- folded postal code without spaces
	languages_key    TEXT NOT NULL,    -- spoken languages as '|fr|en|'
	PRIMARY KEY (name_key, practice_id)
) WITHOUT ROWID;

-- No foreign key here: a row may outlive its practice for a moment (a
-- deleted practice's types fire the trigger below); the refresh skips it.
CREATE TABLE practice_search_dirty (
	practice_id TEXT PRIMARY KEY
) WITHOUT ROWID;

INSERT INTO practice_search_dirty (practice_id) SELECT id FROM practices;

CREATE TRIGGER practice_search_new AFTER INSERT ON practices
BEGIN
	INSERT OR IGNORE INTO practice_search_dirty (practice_id) VALUES (NEW.id);
END;

CREATE TRIGGER practice_search_changed AFTER UPDATE OF name, status, specialties, city, postal_code, languages ON practices
WHEN OLD.name IS NOT NEW.name OR OLD.status IS NOT NEW.status OR OLD.specialties IS NOT NEW.specialties
	OR OLD.city IS NOT NEW.city OR OLD.postal_code IS NOT NEW.postal_code OR OLD.languages IS NOT NEW.languages
BEGIN
	INSERT OR IGNORE INTO practice_search_dirty (practice_id) VALUES (NEW.id);
END;

CREATE TRIGGER practice_search_type_new AFTER INSERT ON appointment_types WHEN NEW.teleconsultation = 1
BEGIN
	INSERT OR IGNORE INTO practice_search_dirty (practice_id) VALUES (NEW.practice_id);
END;

CREATE TRIGGER practice_search_type_changed AFTER UPDATE OF teleconsultation, archived_at ON appointment_types
WHEN OLD.teleconsultation IS NOT NEW.teleconsultation OR OLD.archived_at IS NOT NEW.archived_at
BEGIN
	INSERT OR IGNORE INTO practice_search_dirty (practice_id) VALUES (NEW.practice_id);
END;

CREATE TRIGGER practice_search_type_deleted AFTER DELETE ON appointment_types WHEN OLD.teleconsultation = 1
BEGIN
	INSERT OR IGNORE INTO practice_search_dirty (practice_id) VALUES (OLD.practice_id);
END;
