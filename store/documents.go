package store

import (
	"context"
	"time"
)

// Document is an uploaded file; its content is encrypted at rest.
type Document struct {
	ID          string
	OwnerID     string
	Purpose     string
	Filename    string
	ContentType string
	Size        int
	CreatedAt   time.Time
}

// CreateDocument stores d with its content encrypted.
func (tx *Tx) CreateDocument(ctx context.Context, d *Document, content []byte) error {
	s, err := tx.db.sealer()
	if err != nil {
		return err
	}
	if d.ID == "" {
		d.ID = NewID()
	}
	d.Size, d.CreatedAt = len(content), tx.now
	_, err = tx.ExecContext(ctx, "INSERT INTO documents (id, owner_id, purpose, filename, content_type, size, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.OwnerID, d.Purpose, d.Filename, d.ContentType, d.Size, s.seal(content, "documents:"+d.ID), tx.now.Unix())
	return formatError(err)
}

// FindDocument returns the document's metadata and decrypted content, or ErrNotFound.
func (db *DB) FindDocument(ctx context.Context, id string) (*Document, []byte, error) {
	var d Document
	var blob []byte
	var c int64
	err := db.rq.QueryRowContext(ctx, "SELECT id, owner_id, purpose, filename, content_type, size, data, created_at FROM documents WHERE id = ?", id).
		Scan(&d.ID, &d.OwnerID, &d.Purpose, &d.Filename, &d.ContentType, &d.Size, &blob, &c)
	if err != nil {
		return nil, nil, formatError(err)
	}
	d.CreatedAt = time.Unix(c, 0).UTC()
	s, err := db.sealer()
	if err != nil {
		return nil, nil, err
	}
	content, err := s.open(blob, "documents:"+d.ID)
	if err != nil {
		return nil, nil, err
	}
	return &d, content, nil
}
