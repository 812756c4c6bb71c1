package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/altcha-org/altcha-lib-go"
)

// captcha is the self-hosted robot check of the registration and contact
// forms. With JavaScript, the browser solves an ALTCHA proof-of-work challenge
// by itself (it asks nothing of people). Without JavaScript, the form shows a
// localized question ("write seventeen in digits") that screen readers read
// out, so no image or audio is needed. Each solution is accepted once.
type captcha struct {
	key  []byte
	now  func() time.Time
	mu   sync.Mutex
	used map[string]time.Time // solved challenges until they expire
}

const (
	captchaTTL       = 20 * time.Minute
	captchaMaxNumber = 50000
)

func newCaptcha(key []byte, now func() time.Time) *captcha {
	return &captcha{key: key, now: now, used: map[string]time.Time{}}
}

// challenge is what a form carries: the ALTCHA challenge for scripts and the
// fallback question (a number to write in digits) with its signed token.
type challenge struct {
	AltchaJSON string
	Number     int
	Token      string
}

func (c *captcha) new() (challenge, error) {
	exp := c.now().Add(captchaTTL)
	ch, err := altcha.CreateChallenge(altcha.ChallengeOptions{HMACKey: string(c.key), MaxNumber: captchaMaxNumber, Expires: &exp})
	if err != nil {
		return challenge{}, err
	}
	js, err := json.Marshal(ch)
	if err != nil {
		return challenge{}, err
	}
	nBig, err := rand.Int(rand.Reader, big.NewInt(20))
	if err != nil {
		return challenge{}, err
	}
	n := int(nBig.Int64()) + 1
	nonce := make([]byte, 9)
	if _, err := rand.Read(nonce); err != nil {
		return challenge{}, err
	}
	body := strconv.FormatInt(exp.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(nonce)
	return challenge{AltchaJSON: string(js), Number: n, Token: body + "." + c.sign(body+"."+strconv.Itoa(n))}, nil
}

func (c *captcha) sign(s string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("text-captcha:" + s))
	return hex.EncodeToString(m.Sum(nil))
}

// verify accepts either a solved ALTCHA payload or the right answer to the
// fallback question, once.
func (c *captcha) verify(altchaPayload, token, answer string) bool {
	now := c.now()
	if altchaPayload != "" {
		ok, err := altcha.VerifySolutionSafe(altchaPayload, string(c.key), true)
		if err == nil && ok && c.expiresLater(altchaPayload, now) {
			return c.consume("a:"+altchaPayload, now)
		}
		return false
	}
	parts := strings.Split(token, ".")
	answer = strings.TrimSpace(answer)
	if len(parts) != 3 || answer == "" || len(answer) > 3 {
		return false
	}
	exp, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || now.Unix() > exp {
		return false
	}
	want := c.sign(parts[0] + "." + parts[1] + "." + answer)
	if !hmac.Equal([]byte(want), []byte(parts[2])) {
		return false
	}
	return c.consume("t:"+token, now)
}

// expiresLater checks the expiry the ALTCHA library checks with the wall clock
// against the server's clock too.
func (c *captcha) expiresLater(payload string, now time.Time) bool {
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return false
	}
	var p altcha.Payload
	if json.Unmarshal(raw, &p) != nil {
		return false
	}
	exp, err := strconv.ParseInt(altcha.ExtractParams(p).Get("expires"), 10, 64)
	return err == nil && now.Unix() <= exp
}

func (c *captcha) consume(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, t := range c.used {
		if now.After(t) {
			delete(c.used, k)
		}
	}
	if _, seen := c.used[key]; seen {
		return false
	}
	c.used[key] = now.Add(captchaTTL)
	return true
}

// solveAltcha solves a challenge as the browser script does (tests, demo).
func solveAltcha(challengeJSON string) (string, error) {
	var ch altcha.Challenge
	if err := json.Unmarshal([]byte(challengeJSON), &ch); err != nil {
		return "", err
	}
	sol, err := altcha.SolveChallenge(ch.Challenge, ch.Salt, altcha.Algorithm(ch.Algorithm), int(ch.MaxNumber), 0, nil)
	if err != nil || sol == nil {
		return "", err
	}
	p, err := json.Marshal(altcha.Payload{Algorithm: ch.Algorithm, Challenge: ch.Challenge, Number: int64(sol.Number), Salt: ch.Salt, Signature: ch.Signature})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(p), nil
}
