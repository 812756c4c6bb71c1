package app

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// dummyHash is checked for unknown accounts so that sign-in takes as long
// for them as for real ones. It is a constant with the same parameters as
// real hashes: computing it at start would cost 19 MiB and ~100 ms.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$ZGFyYXBvcnQtZHVtbXkhIQ$J+Fo1o1p8OtIJPjxrDapjw3RYTDZ7ypCAgXCQik3InE"

// argonSlots bounds how many argon2 computations run at once: each takes
// 19 MiB, so a flood of sign-ins would otherwise need memory in proportion.
// Waiting requests queue; their answers are padded to authFloor anyway.
var argonSlots = make(chan struct{}, max(2, runtime.NumCPU()))

func argonKey(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey(pw, salt, t, m, p, n)
}

// hashPassword returns an argon2id hash in the PHC string format.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argonKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("password: malformed hash")

// checkPassword tells whether pw matches the PHC-format argon2id hash.
func checkPassword(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	if m > 256*1024 || t > 16 || p == 0 || len(want) == 0 || len(want) > 64 {
		return false, errBadHash // refuse hashes that would cost unbounded work
	}
	got := argonKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// passwordProblem returns the catalogue id of what makes pw too weak, or "".
// The rule is NIST SP 800-63B's: length matters, composition rules do not;
// common passwords and ones made of the user's name or e-mail are refused.
func passwordProblem(pw, email, name string) string {
	n := utf8.RuneCountInString(pw)
	if n < 10 {
		return "error.password_short"
	}
	if n > 256 {
		return "error.password_long"
	}
	lower := strings.ToLower(pw)
	if commonPasswords[lower] {
		return "error.password_common"
	}
	distinct := map[rune]bool{}
	for _, r := range lower {
		if !unicode.IsSpace(r) {
			distinct[r] = true
		}
	}
	if len(distinct) < 5 {
		return "error.password_common"
	}
	local := strings.ToLower(strings.SplitN(email, "@", 2)[0])
	if len(local) >= 4 && strings.Contains(lower, local) {
		return "error.password_personal"
	}
	for _, part := range strings.Fields(strings.ToLower(name)) {
		if utf8.RuneCountInString(part) >= 4 && strings.Contains(lower, part) {
			return "error.password_personal"
		}
	}
	return ""
}

// checkNewPassword records on p what is wrong with a new password and its
// repetition (forms name them "password" and "password2").
func checkNewPassword(p *Page, pw, again, email, name string) {
	if m := passwordProblem(pw, email, name); m != "" {
		p.fail("password", m)
	} else if pw != again {
		p.fail("password2", "error.passwords_differ")
	}
}

// commonPasswords are refused whatever their length.
var commonPasswords = wordSet(`1234567890 12345678910 123456789a 0123456789 1111111111 qwertyuiop azertyuiop
		password12 password123 password1234 passwordpassword motdepasse motdepasse1 motdepasse123 passwort123 contraseña
		contrasena123 iloveyou123 letmein123 welcome123 bienvenue1 bienvenue123 doctolib123 daraport123 azerty1234
		qwerty1234 qwertz1234 abcdefghij abc1234567 aaaaaaaaaa 0000000000 9876543210 administrator changeme123
		trustno1234 sunshine12 football12 princess12 soleil1234 marseille13 parisparis`)

func wordSet(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}
