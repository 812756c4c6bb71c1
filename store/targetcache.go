package store

import (
	"slices"
	"sync"
	"time"
)

// targetCache keeps practices and appointment types as read, so a booking
// reads only its slot: under a race a thousand requests name the same
// practice and type, and building the notices reads them again. An entry is
// good while the target epoch is unchanged (any write by this process to
// practices or appointment_types moves it, through the writer's pre-update
// hook: authepoch.go) and for targetCacheTTL at most, which bounds what an
// edit from outside the process could leave stale. Callers get private
// copies.
type targetCache struct {
	mu        sync.RWMutex
	practices map[string]cacheEntry[*Practice]
	types     map[string]cacheEntry[*AppointmentType]
}

type cacheEntry[T any] struct {
	v     T
	epoch uint64
	at    time.Time
}

const (
	targetCacheTTL = 5 * time.Second
	targetCacheMax = 4096
)

func fresh[T any](e cacheEntry[T], ok bool, epoch uint64) bool {
	if !ok || e.epoch != epoch {
		return false
	}
	age := time.Since(e.at)
	return age >= 0 && age < targetCacheTTL
}

// practice returns a copy of the practice id cached at epoch, or nil.
func (c *targetCache) practice(id string, epoch uint64) *Practice {
	c.mu.RLock()
	e, ok := c.practices[id]
	c.mu.RUnlock()
	if !fresh(e, ok, epoch) {
		return nil
	}
	return clonePractice(e.v)
}

// typ returns a copy of the type id cached at epoch, or nil.
func (c *targetCache) typ(id string, epoch uint64) *AppointmentType {
	c.mu.RLock()
	e, ok := c.types[id]
	c.mu.RUnlock()
	if !fresh(e, ok, epoch) {
		return nil
	}
	return cloneType(e.v)
}

// put caches p and t (either may be nil), read at epoch.
func (c *targetCache) put(p *Practice, t *AppointmentType, epoch uint64) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if p != nil {
		if c.practices == nil || len(c.practices) >= targetCacheMax {
			c.practices = make(map[string]cacheEntry[*Practice])
		}
		c.practices[p.ID] = cacheEntry[*Practice]{v: clonePractice(p), epoch: epoch, at: now}
	}
	if t != nil {
		if c.types == nil || len(c.types) >= targetCacheMax {
			c.types = make(map[string]cacheEntry[*AppointmentType])
		}
		c.types[t.ID] = cacheEntry[*AppointmentType]{v: cloneType(t), epoch: epoch, at: now}
	}
}

func clonePractice(p *Practice) *Practice {
	c := *p
	c.Specialties = slices.Clone(p.Specialties)
	c.Diplomas = slices.Clone(p.Diplomas)
	c.PaymentMeans = slices.Clone(p.PaymentMeans)
	c.Transport = slices.Clone(p.Transport)
	c.Access = slices.Clone(p.Access)
	c.Languages = slices.Clone(p.Languages)
	return &c
}

func cloneType(t *AppointmentType) *AppointmentType {
	c := *t
	if t.FirstPrice != nil {
		v := *t.FirstPrice
		c.FirstPrice = &v
	}
	return &c
}
