package visit

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// next returns the next message of m's type field, failing after a second.
func next(t *testing.T, m *Member) map[string]any {
	t.Helper()
	select {
	case b := <-m.Out():
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	case <-time.After(time.Second):
		t.Fatal("no message")
	}
	return nil
}

func TestHubTwoPartiesOnly(t *testing.T) {
	t.Parallel()
	h := NewHub()
	admitted := ""
	h.OnAdmit = func(id string) { admitted = id }
	p := NewMember(Patient, "patient", false)
	if err := h.Join("v1", "pr1", false, p); err != nil {
		t.Fatal(err)
	}
	if st := next(t, p); st["type"] != "state" || st["waiting"] != true {
		t.Fatalf("patient alone: %v", st)
	}
	if got := h.Waiting("pr1"); len(got) != 1 || got[0] != "v1" {
		t.Fatalf("Waiting = %v", got)
	}
	if got := h.Waiting("pr2"); len(got) != 0 {
		t.Fatalf("another practice sees %v", got)
	}
	if h.Admit("v1", p) {
		t.Fatal("the patient admitted themselves")
	}
	s := NewMember(Staff, "staff:u1", false)
	if err := h.Join("v1", "pr1", false, s); err != nil {
		t.Fatal(err)
	}
	next(t, s)
	next(t, p)
	if err := h.Join("v1", "pr1", false, NewMember(Staff, "staff:u2", false)); !errors.Is(err, ErrFull) {
		t.Fatalf("a second staff member joined: %v", err)
	}
	if h.Relay("v1", p, "signal", json.RawMessage(`{}`)) {
		t.Fatal("signaling before admission")
	}
	if !h.Admit("v1", s) || admitted != "v1" {
		t.Fatal("staff could not admit")
	}
	next(t, s) // state
	if r := next(t, s); r["type"] != "ready" {
		t.Fatalf("staff got %v", r)
	}
	next(t, p)
	if r := next(t, p); r["type"] != "ready" {
		t.Fatalf("patient got %v", r)
	}
	if !h.Relay("v1", s, "signal", json.RawMessage(`{"a":1}`)) {
		t.Fatal("no relay after admission")
	}
	if m := next(t, p); m["type"] != "signal" {
		t.Fatalf("patient got %v", m)
	}
	// The same staff member reloading replaces the old connection.
	s2 := NewMember(Staff, "staff:u1", false)
	if err := h.Join("v1", "pr1", false, s2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("the replaced connection was not ended")
	}
	// The window ends: both are told and disconnected.
	h.Close("v1")
	for _, m := range []*Member{s2, p} {
		select {
		case <-m.Done():
		default:
			t.Fatalf("%s still connected after Close", m.Role)
		}
	}
	if st, pt := h.Present("v1"); st || pt {
		t.Fatal("the room survives Close")
	}
}
