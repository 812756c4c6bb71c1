package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"daraport/store"
)

// SMS through a generic HTTP gateway and webhooks: both are HTTP requests
// whose answer decides sent / retry / failed like an SMTP reply.

// httpSenders holds the two HTTP clients.
type httpSenders struct {
	sms     *http.Client
	webhook *http.Client
	cfg     SMSConfig
}

func newHTTPSenders(cfg Config) *httpSenders {
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if !cfg.Delivery.AllowPrivateWebhooks {
		// The address is checked after resolution, at connect time, so
		// a name pointing at 127.0.0.1 or the cloud metadata service is
		// refused as well (DNS rebinding included).
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !publicAddr(ap.Addr()) {
				return &permanentError{"webhook: " + ap.Addr().String() + " is not a public address (delivery.allow_private_webhooks)"}
			}
			return nil
		}
	}
	transport := func(d *net.Dialer) *http.Transport {
		return &http.Transport{DialContext: d.DialContext, TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConnsPerHost: deliveryHTTPConc, IdleConnTimeout: 30 * time.Second, ForceAttemptHTTP2: true}
	}
	return &httpSenders{
		sms:     &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirect, Transport: transport(&net.Dialer{Timeout: 10 * time.Second})},
		webhook: &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirect, Transport: transport(dialer)},
		cfg:     cfg.SMS,
	}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether a webhook may connect to a.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !cgnat.Contains(a)
}

// httpStatusError is an answer other than success.
type httpStatusError struct {
	code       int
	want       int           // the configured success status, when one is
	retryAfter time.Duration // the answer's Retry-After (429, 503), if any
}

func (e *httpStatusError) Error() string {
	if e.want != 0 {
		return fmt.Sprintf("HTTP %d (expected %d)", e.code, e.want)
	}
	return fmt.Sprintf("HTTP %d", e.code)
}

// temporary: 408, 429 and 5xx may pass later; other 4xx and redirects
// (never followed) will not; an unexpected success status is treated as
// temporary, since it is most likely a setting to correct.
func (e *httpStatusError) temporary() bool {
	switch {
	case e.code == 408 || e.code == 429 || e.code >= 500:
		return true
	case e.code >= 300 && e.code < 500:
		return false
	}
	return true
}

// httpSender delivers SMS and webhooks.
func (d *delivery) httpSender(ctx context.Context, ch <-chan claimed) {
	for c := range ch {
		if !c.fresh() {
			d.release(ctx, []*store.OutboxMessage{c.m})
			continue
		}
		var err error
		switch c.m.Kind {
		case store.OutboxSMS:
			err = d.http.sendSMS(ctx, c.m)
		case store.OutboxWebhook:
			err = d.signWebhook(ctx, c.m)
			if err == nil {
				err = d.http.sendWebhook(ctx, c.m)
			}
		default:
			err = &permanentError{"unknown outbox kind " + c.m.Kind}
		}
		d.record(ctx, c.m, err)
	}
}

// signWebhook signs a practice's webhook again at send time, so a retry
// carries a fresh timestamp that receivers refusing old ones accept. A row
// whose endpoint was removed is dropped (permanent).
func (d *delivery) signWebhook(ctx context.Context, m *store.OutboxMessage) error {
	if store.WebhookEndpointID(m.Template) == "" {
		return nil // not an endpoint's event (tests, installation hooks): as written
	}
	h, ok, err := d.s.webhookHeadersAt(ctx, m, d.s.clock())
	if err != nil {
		return err
	}
	if !ok {
		return &permanentError{"webhook endpoint removed"}
	}
	m.Headers = h
	return nil
}

var smsNumberRe = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// smsEscape escapes a placeholder value for the body's content type.
func smsEscape(contentType, v string) string {
	switch contentType {
	case "application/json":
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		s := strings.TrimSpace(b.String())
		return s[1 : len(s)-1]
	case "application/x-www-form-urlencoded":
		return url.QueryEscape(v)
	}
	return v
}

// smsRequest builds the gateway request for one SMS.
func (h *httpSenders) smsRequest(ctx context.Context, to, text string) (*http.Request, error) {
	if !smsNumberRe.MatchString(to) {
		return nil, &permanentError{"sms: the recipient is not an international number (+ and digits)"}
	}
	rawURL := strings.NewReplacer("{{to}}", url.QueryEscape(to), "{{text}}", url.QueryEscape(text)).Replace(h.cfg.URL)
	var body io.Reader
	if h.cfg.Method != http.MethodGet {
		body = strings.NewReader(strings.NewReplacer("{{to}}", smsEscape(h.cfg.ContentType, to), "{{text}}", smsEscape(h.cfg.ContentType, text)).Replace(h.cfg.Body))
	}
	req, err := http.NewRequestWithContext(ctx, h.cfg.Method, rawURL, body)
	if err != nil {
		return nil, &permanentError{"sms: bad gateway URL"}
	}
	if body != nil {
		req.Header.Set("Content-Type", h.cfg.ContentType)
	}
	for _, line := range h.cfg.Headers {
		name, value, _ := strings.Cut(line, ":")
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}

func (h *httpSenders) sendSMS(ctx context.Context, m *store.OutboxMessage) error {
	req, err := h.smsRequest(ctx, strings.TrimSpace(m.To), m.TextBody)
	if err != nil {
		return err
	}
	return h.do(h.sms, req, h.cfg.SuccessStatus)
}

// webhookSkipHeaders are set by the transport or by us, never by a row.
var webhookSkipHeaders = map[string]bool{"Host": true, "Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
	"Connection": true, "Te": true, "Upgrade": true, "Trailer": true, "Keep-Alive": true, "Proxy-Authorization": true, "Cookie": true}

func (h *httpSenders) sendWebhook(ctx context.Context, m *store.OutboxMessage) error {
	u, err := url.Parse(strings.TrimSpace(m.To))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return &permanentError{"webhook: the URL is not an absolute http(s) URL"}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(m.TextBody))
	if err != nil {
		return &permanentError{"webhook: bad URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Daraport-Webhook/1")
	for name, value := range m.Headers {
		name = http.CanonicalHeaderKey(strings.TrimSpace(name))
		if !headerNameRe.MatchString(name) || webhookSkipHeaders[name] || strings.ContainsAny(value, "\r\n\x00") {
			continue
		}
		req.Header.Set(name, value)
	}
	return h.do(h.webhook, req, 0)
}

// do sends req and classifies the answer: want (or any 2xx when 0) is
// success. The body is read (a little) and dropped.
func (h *httpSenders) do(c *http.Client, req *http.Request, want int) error {
	res, err := c.Do(req)
	if err != nil {
		var pe *permanentError
		if errors.As(err, &pe) {
			return pe
		}
		// Network errors are temporary; drop the URL the error repeats (it
		// may hold a gateway's key).
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s: %w", strings.ToLower(req.Method), ue.Err)
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if want != 0 && res.StatusCode == want || want == 0 && res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	return &httpStatusError{code: res.StatusCode, want: want, retryAfter: retryAfter(res.Header.Get("Retry-After"))}
}

// retryAfter reads a Retry-After header in seconds (the HTTP-date form is
// rare from gateways and ignored); at most an hour is honoured.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, time.Hour)
}
