package app

import (
	"sync"
	"time"
)

// window counts events per key over a fixed period: a simple, memory-bounded
// limiter for sign-in failures, registrations and reset requests.
type window struct {
	mu     sync.Mutex
	now    func() time.Time
	period time.Duration
	max    int
	hits   map[string]*windowCount
	swept  time.Time
}

type windowCount struct {
	n     int
	reset time.Time
}

func newWindow(now func() time.Time, period time.Duration, max int) *window {
	return &window{now: now, period: period, max: max, hits: map[string]*windowCount{}}
}

// blocked tells whether key has reached the limit in the current period.
func (w *window) blocked(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.hits[key]
	return c != nil && w.now().Before(c.reset) && c.n >= w.max
}

// hit records one event for key and tells whether the key is now over the limit.
func (w *window) hit(key string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if now.Sub(w.swept) > w.period {
		for k, c := range w.hits {
			if !now.Before(c.reset) {
				delete(w.hits, k)
			}
		}
		w.swept = now
	}
	c := w.hits[key]
	if c == nil || !now.Before(c.reset) {
		c = &windowCount{reset: now.Add(w.period)}
		w.hits[key] = c
	}
	c.n++
	return c.n > w.max
}

// clear forgets key (after a successful sign-in).
func (w *window) clear(key string) {
	w.mu.Lock()
	delete(w.hits, key)
	w.mu.Unlock()
}

// bucket is a token bucket per key: rate per second, burst capacity.
type bucket struct {
	mu    sync.Mutex
	now   func() time.Time
	rate  float64
	burst float64
	state map[string]*bucketState
	swept time.Time
}

type bucketState struct {
	tokens float64
	last   time.Time
}

func newBucket(now func() time.Time, rate float64, burst int) *bucket {
	return &bucket{now: now, rate: rate, burst: float64(burst), state: map[string]*bucketState{}}
}

// allow takes one token for key, reporting whether one was available.
func (b *bucket) allow(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Sub(b.swept) > time.Minute {
		for k, st := range b.state {
			if now.Sub(st.last) > time.Minute {
				delete(b.state, k)
			}
		}
		b.swept = now
	}
	st := b.state[key]
	if st == nil {
		st = &bucketState{tokens: b.burst, last: now}
		b.state[key] = st
	}
	st.tokens += now.Sub(st.last).Seconds() * b.rate
	if st.tokens > b.burst {
		st.tokens = b.burst
	}
	st.last = now
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}

// limiters are the server's rate limits.
type limiters struct {
	loginIP      *window // failed sign-ins per IP
	loginAccount *window // failed sign-ins per account (e-mail)
	anonIP       *window // registrations, resets, contact messages per IP
	resetAccount *window // reset requests per e-mail
	api          *bucket // API requests per token
}

func newLimiters(now func() time.Time, loginMax int, apiRate int) *limiters {
	return &limiters{
		loginIP:      newWindow(now, 15*time.Minute, max(loginMax*2, 20)),
		loginAccount: newWindow(now, 15*time.Minute, loginMax),
		anonIP:       newWindow(now, 15*time.Minute, 30),
		resetAccount: newWindow(now, time.Hour, 5),
		api:          newBucket(now, float64(apiRate), apiRate*2),
	}
}
