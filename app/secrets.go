package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"daraport/store"
)

// secrets are the installation's server-side keys, made once and kept in the
// database's meta table: cookie signing and encryption, captcha signing.
type secrets struct {
	cookieHash  []byte
	cookieBlock []byte
	captcha     []byte
}

func loadSecrets(ctx context.Context, db *store.DB) (secrets, error) {
	var k secrets
	err := db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if k.cookieHash, err = metaKey(ctx, tx, "cookie_hash_key", 64); err != nil {
			return err
		}
		if k.cookieBlock, err = metaKey(ctx, tx, "cookie_block_key", 32); err != nil {
			return err
		}
		k.captcha, err = metaKey(ctx, tx, "captcha_key", 32)
		return err
	})
	return k, err
}

func metaKey(ctx context.Context, tx *store.Tx, name string, n int) ([]byte, error) {
	v, err := tx.Meta(ctx, name)
	if err == nil {
		b, err := base64.StdEncoding.DecodeString(v)
		if err == nil && len(b) == n {
			return b, nil
		}
		return nil, fmt.Errorf("meta %s is damaged", name)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, tx.SetMeta(ctx, name, base64.StdEncoding.EncodeToString(b))
}
