package visit

import (
	"encoding/json"
	"errors"
	"sort"
	"sync"
)

// Role is a party of a visit.
type Role string

// The two parties of a visit: never more (seed 004: two-person confidentiality).
const (
	Staff   Role = "staff"   // the practitioner's side
	Patient Role = "patient" // the person holding the link
)

// ErrFull means the role is held by someone else: a third party is refused.
var ErrFull = errors.New("visit: the call already has its two parties")

// Member is one connection of a party to its room. The transport (the
// WebSocket handler) drains Out and ends when Done is closed.
type Member struct {
	Role     Role
	Identity string // who holds the role: a staff user id, or "patient"
	// Resume is true when the connection comes back with its peer
	// connection still alive (a network change): the call resumes by an
	// ICE restart instead of a new peer connection.
	Resume bool

	out    chan []byte
	done   chan struct{}
	once   sync.Once
	reason string
}

// NewMember makes a member ready to join.
func NewMember(role Role, identity string, resume bool) *Member {
	return &Member{Role: role, Identity: identity, Resume: resume, out: make(chan []byte, 64), done: make(chan struct{})}
}

// Out delivers the messages to send to the party.
func (m *Member) Out() <-chan []byte { return m.out }

// Done is closed when the hub ends the membership.
func (m *Member) Done() <-chan struct{} { return m.done }

// Reason says why the hub ended the membership ("replaced", "closed", …).
func (m *Member) Reason() string { return m.reason }

func (m *Member) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	select {
	case m.out <- b:
	case <-m.done:
	default:
		// A party that does not read its messages is gone; ending it
		// lets it reconnect cleanly.
		m.end("slow")
	}
}

func (m *Member) end(reason string) {
	m.once.Do(func() {
		m.reason = reason
		close(m.done)
	})
}

// room is one visit's two seats.
type room struct {
	practiceID string
	admitted   bool
	seats      map[Role]*Member
}

// Hub pairs the parties of each visit and relays their signaling.
type Hub struct {
	mu    sync.Mutex
	rooms map[string]*room
	// OnAdmit is called (outside the hub's lock) when staff admits the
	// patient, so the admission can be kept.
	OnAdmit func(visitID string)
}

// NewHub makes an empty hub.
func NewHub() *Hub { return &Hub{rooms: map[string]*room{}} }

// message is what the hub sends to parties.
type message struct {
	Type     string          `json:"type"`
	Admitted *bool           `json:"admitted,omitempty"`
	Peer     *bool           `json:"peer,omitempty"`
	Waiting  *bool           `json:"waiting,omitempty"`
	Resume   *bool           `json:"resume,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

func ptr(b bool) *bool { return &b }

// Join seats m in the visit. The same identity coming back replaces its
// previous connection (a reload); anyone else on a held seat gets ErrFull.
func (h *Hub) Join(visitID, practiceID string, admitted bool, m *Member) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[visitID]
	if rm == nil {
		rm = &room{practiceID: practiceID, admitted: admitted, seats: map[Role]*Member{}}
		h.rooms[visitID] = rm
	}
	rm.admitted = rm.admitted || admitted
	if old := rm.seats[m.Role]; old != nil {
		if old.Identity != m.Identity {
			return ErrFull
		}
		old.end("replaced")
	}
	rm.seats[m.Role] = m
	h.announce(rm, m)
	return nil
}

// announce tells both parties the room's state after m arrived or the
// patient was admitted, and starts the call when both are in.
func (h *Hub) announce(rm *room, arrived *Member) {
	staff, patient := rm.seats[Staff], rm.seats[Patient]
	waiting := patient != nil && !rm.admitted
	for _, m := range []*Member{staff, patient} {
		if m == nil {
			continue
		}
		other := staff
		if m == staff {
			other = patient
		}
		m.send(message{Type: "state", Admitted: ptr(rm.admitted), Peer: ptr(other != nil), Waiting: ptr(waiting)})
	}
	if staff != nil && patient != nil && rm.admitted {
		resume := arrived != nil && arrived.Resume
		staff.send(message{Type: "ready", Resume: ptr(resume)})
		patient.send(message{Type: "ready", Resume: ptr(resume)})
	}
}

// Leave frees m's seat (if it still holds it) and tells the other party.
func (h *Hub) Leave(visitID string, m *Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m.end("left")
	rm := h.rooms[visitID]
	if rm == nil || rm.seats[m.Role] != m {
		return
	}
	delete(rm.seats, m.Role)
	for _, o := range rm.seats {
		o.send(message{Type: "state", Admitted: ptr(rm.admitted), Peer: ptr(false), Waiting: ptr(false)})
	}
	// An empty room goes: the admission is kept by OnAdmit's caller and
	// passed to the next Join.
	if len(rm.seats) == 0 {
		delete(h.rooms, visitID)
	}
}

// Admit lets the waiting patient in; only staff may.
func (h *Hub) Admit(visitID string, by *Member) bool {
	h.mu.Lock()
	rm := h.rooms[visitID]
	if rm == nil || by.Role != Staff || rm.seats[Staff] != by || rm.admitted {
		h.mu.Unlock()
		return false
	}
	rm.admitted = true
	h.announce(rm, nil)
	h.mu.Unlock()
	if h.OnAdmit != nil {
		h.OnAdmit(visitID)
	}
	return true
}

// Relay passes a signaling message (an offer, answer, ICE candidate or a
// restart request) from m to the other party, once the patient is admitted.
func (h *Hub) Relay(visitID string, m *Member, typ string, data json.RawMessage) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[visitID]
	if rm == nil || rm.seats[m.Role] != m || !rm.admitted {
		return false
	}
	to := Patient
	if m.Role == Patient {
		to = Staff
	}
	o := rm.seats[to]
	if o == nil {
		return false
	}
	o.send(message{Type: typ, Data: data})
	return true
}

// Close ends a visit's room (its window is over): both parties are told
// and disconnected.
func (h *Hub) Close(visitID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[visitID]
	if rm == nil {
		return
	}
	for _, m := range rm.seats {
		m.send(message{Type: "closed"})
		m.end("closed")
	}
	delete(h.rooms, visitID)
}

// Waiting returns the visits of a practice whose patient waits to be
// admitted, sorted.
func (h *Hub) Waiting(practiceID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for id, rm := range h.rooms {
		if rm.practiceID == practiceID && !rm.admitted && rm.seats[Patient] != nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Present tells who is connected to a visit now.
func (h *Hub) Present(visitID string) (staff, patient bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rm := h.rooms[visitID]; rm != nil {
		return rm.seats[Staff] != nil, rm.seats[Patient] != nil
	}
	return false, false
}
