package mail

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIM signs outgoing messages for a domain.
type DKIM struct {
	Domain   string
	Selector string
	Key      crypto.Signer
}

// dkimHeaders are the signed header fields (RFC 6376 §5.4.1).
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type",
	"Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"}

func (d *DKIM) sign(msg []byte) ([]byte, error) {
	var out bytes.Buffer
	opts := &dkim.SignOptions{Domain: d.Domain, Selector: d.Selector, Signer: d.Key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: dkimHeaders}
	if err := dkim.Sign(&out, bytes.NewReader(msg), opts); err != nil {
		return nil, fmt.Errorf("mail: DKIM signing: %w", err)
	}
	return out.Bytes(), nil
}

// LoadDKIMKey reads the PEM private key (PKCS#8 or PKCS#1 RSA) at path,
// creating a 2048-bit RSA key there (mode 0600) when the file does not
// exist, so an operator only has to publish the DNS record.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, gerr := rsa.GenerateKey(rand.Reader, 2048)
		if gerr != nil {
			return nil, gerr
		}
		der, gerr := x509.MarshalPKCS8PrivateKey(key)
		if gerr != nil {
			return nil, gerr
		}
		if gerr := os.MkdirAll(filepath.Dir(path), 0o700); gerr != nil {
			return nil, gerr
		}
		f, gerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if gerr != nil {
			return nil, fmt.Errorf("mail: create DKIM key: %w", gerr)
		}
		if gerr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); gerr != nil {
			f.Close()
			return nil, gerr
		}
		if gerr := f.Close(); gerr != nil {
			return nil, gerr
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mail: read DKIM key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("mail: %s holds no PEM key", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("mail: %s is not an RSA or Ed25519 private key", path)
}

// DKIMRecord returns the TXT record to publish at
// <selector>._domainkey.<domain> for key.
func DKIMRecord(key crypto.Signer) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", err
	}
	alg := "rsa"
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		alg = "ed25519"
		// RFC 8463: the ed25519 p= is the raw 32-byte key, not SPKI.
		der = der[len(der)-32:]
	}
	return "v=DKIM1; k=" + alg + "; p=" + base64.StdEncoding.EncodeToString(der), nil
}
