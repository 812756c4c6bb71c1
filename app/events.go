package app

import (
	"context"

	"daraport/store"
)

// Appointment event kinds: the words of the webhooks (DESIGN §5) and of the
// planning's live updates.
const (
	EventCreated   = "appointment.created"
	EventCancelled = "appointment.cancelled"
	EventMoved     = "appointment.moved"
	EventNoShow    = "appointment.no_show"
	EventPaid      = "appointment.paid"
	EventUnpaid    = "appointment.unpaid"
)

// apptEvent is one change to an appointment. Every path that changes an
// appointment (patient pages, API, staff workspace, series) builds one and
// hands it to appointmentChanged inside its transaction, then to
// appointmentCommitted once the transaction is durable. Each capability
// hooks in there, in one place, instead of inside every path.
type apptEvent struct {
	Kind     string
	Appt     *store.Appointment // after the change
	Old      *store.Appointment // before a move; nil otherwise
	Practice *store.Practice
	Patient  *store.User
	TypeName string
	ActorID  string
	ByStaff  bool // made by the practice's staff for the patient (not by the patient)
	Quiet    bool // staff chose not to tell the patient (e.g. a series booked by phone)

	notices *noticePrep // built by appointmentPrepare, written by noticesOnChange
}

// appointmentPrepare builds, before the change's transaction, what its
// hooks can build from committed data, so the single writer only inserts.
// Optional: a hook finding nothing prepared builds inside the transaction.
func (s *Server) appointmentPrepare(ctx context.Context, ev *apptEvent) error {
	return s.noticesPrepare(ctx, ev)
}

// appointmentChanged runs in the transaction of the change: whatever it
// writes (e-mails, reminders, webhooks, waitlist offers) exists if and only
// if the change commits.
func (s *Server) appointmentChanged(ctx context.Context, tx *store.Tx, ev apptEvent) error {
	for _, h := range []func(context.Context, *store.Tx, apptEvent) error{
		s.mailOnChange,    // events.go: nothing since notices.go writes the e-mail
		s.noticesOnChange, // notices.go: the patient's e-mail and invite, SMS, reminders, webhooks
		s.seriesOnChange,  // series.go: waitlist offers for freed time
	} {
		if err := h(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// appointmentCommitted runs after the change is committed: live updates.
// It must not block.
func (s *Server) appointmentCommitted(ev apptEvent) {
	s.workspaceCommitted(ev) // workspace.go: planning views by SSE
}

// mailOnChange used to send the patient's plain e-mail; the e-mail now
// carries the calendar invite and is written by noticesOnChange
// (notices.go), so that one message tells the patient of each change.
func (s *Server) mailOnChange(ctx context.Context, tx *store.Tx, ev apptEvent) error {
	return nil
}
