package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the name of the at-rest encryption key inside the data directory.
// It is kept apart from the database so that a stolen database file alone
// reveals no clinical text.
const KeyFile = "secret.key"

// ErrNoKey means the data directory holds no encryption key and none was given.
var ErrNoKey = errors.New("store: no encryption key")

// LoadKey returns the 32-byte at-rest key: from envKey (base64) when set,
// else from dir/secret.key, which is created with a fresh random key when
// create is true and the file does not exist.
func LoadKey(dir, envKey string, create bool) ([]byte, error) {
	if envKey != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(envKey))
		if err != nil || len(k) != 32 {
			return nil, errors.New("store: the key given by environment must be 32 bytes in base64")
		}
		return k, nil
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("store: %s is not a 32-byte base64 key", path)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !create {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNoKey
		}
		return nil, fmt.Errorf("store: read key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := WriteKey(dir, k); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKey stores key as dir/secret.key (0600), replacing any previous file atomically.
func WriteKey(dir string, key []byte) error {
	path := filepath.Join(dir, KeyFile)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("store: write key: %w", err)
	}
	// The key must reach the disk before anything is encrypted with it.
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: write key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store: write key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// KeyFingerprint names a key without revealing it: the first 16 hex digits of
// SHA-256 over a fixed label and the key.
func KeyFingerprint(key []byte) string {
	h := sha256.Sum256(append([]byte("daraport-key-id:"), key...))
	return hex.EncodeToString(h[:8])
}

type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, ErrNoKey
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: g}, nil
}

// seal encrypts plain with AES-256-GCM; aad binds the ciphertext to its row
// (e.g. table and id) so it cannot be swapped into another row.
func (s *sealer) seal(plain []byte, aad string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("store: crypto/rand failed: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, plain, []byte(aad))
}

func (s *sealer) open(sealed []byte, aad string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("store: sealed value too short")
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil {
		return nil, errors.New("store: cannot decrypt (wrong key?)")
	}
	return p, nil
}
