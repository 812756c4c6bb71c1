package app

import (
	"slices"
	"sync"
	"time"
)

// tokenCache remembers who an API token is, so a busy API client does not
// pay a database read per request. An entry is good only while the store's
// auth epoch is unchanged (any write by this process to users, memberships
// or tokens moves it: store/authepoch.go) and for tokenCacheTTL at most,
// which bounds what an edit from outside the process (an operator's sqlite3
// shell) could leave stale. Tokens and users the CLI adds are not in the
// cache, so they work at once.
type tokenCache struct {
	mu sync.RWMutex
	m  map[string]tokenEntry // SHA-256 of the token → entry
}

type tokenEntry struct {
	actor *Actor
	epoch uint64
	at    time.Time
}

const (
	tokenCacheTTL = 5 * time.Second
	tokenCacheMax = 10000
)

// get returns a private copy of the cached actor, or nil.
func (c *tokenCache) get(key string, epoch uint64, now time.Time) *Actor {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || e.epoch != epoch || now.Sub(e.at) >= tokenCacheTTL || now.Before(e.at) {
		return nil
	}
	return e.actor.clone()
}

func (c *tokenCache) put(key string, a *Actor, epoch uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= tokenCacheMax {
		c.m = make(map[string]tokenEntry)
	}
	c.m[key] = tokenEntry{actor: a.clone(), epoch: epoch, at: now}
}

// clone copies the actor deeply enough that a handler changing its copy
// (a.User.Name after an edit) cannot change another request's.
func (a *Actor) clone() *Actor {
	c := *a
	if a.User != nil {
		u := *a.User
		c.User = &u
	}
	c.Memberships = slices.Clone(a.Memberships)
	if a.Token != nil {
		t := *a.Token
		c.Token = &t
	}
	if a.Session != nil {
		s := *a.Session
		c.Session = &s
	}
	return &c
}
