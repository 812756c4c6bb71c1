package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"daraport/store"
)

// BenchmarkRemindersDue measures the reminders job's share of issue 6's
// burst: 10,000 reminders come due at once (after a downtime, say) and the
// job turns them into outbox rows (e-mail, and SMS for a tenth of them).
// The SMTP side of the burst is the delivery worker's benchmark.
//
//	go test ./app/ -run '^$' -bench RemindersDue -benchtime 1x
func BenchmarkRemindersDue(b *testing.B) {
	const n = 10000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ts := newTestServer(b, nil)
		ctx := context.Background()
		pro := ts.addUser(b, "dr@example.org", "Dr Bench", store.RolePractitioner, "")
		p := mustPractice(b, ts, pro.PracticeID)
		typ := &store.AppointmentType{PracticeID: p.ID, Name: "Consultation", Minutes: 15, Currency: "EUR", NewPatients: true}
		patients := make([]*testUser, 50)
		for j := range patients {
			patients[j] = ts.addUser(b, fmt.Sprintf("p%d@example.org", j), fmt.Sprintf("Patient %d", j), store.RolePatient, "")
		}
		err := ts.db.Update(ctx, func(tx *store.Tx) error {
			if err := tx.CreateType(ctx, typ); err != nil {
				return err
			}
			if err := tx.SavePracticeNotices(ctx, &store.PracticeNotices{PracticeID: p.ID, SMSEnabled: true}); err != nil {
				return err
			}
			base := ts.srv.clock().Add(72 * time.Hour).Truncate(time.Minute)
			for j := 0; j < n; j++ {
				start := base.Add(time.Duration(j) * 15 * time.Second) // spread over 42 h
				a := &store.Appointment{PracticeID: p.ID, PatientID: patients[j%len(patients)].ID, TypeID: typ.ID, Start: start, End: start.Add(15 * time.Minute)}
				if j%10 == 0 {
					a.Phone = "+33612345678"
				}
				if err := tx.CreateAppointment(ctx, a); err != nil {
					return err
				}
				if err := tx.ScheduleReminders(ctx, a.ID, start, []time.Duration{48 * time.Hour}, true); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		ts.clock.Advance(66 * time.Hour) // past every 48 h time, every start still ahead
		b.StartTimer()
		t0 := time.Now()
		if err := ts.srv.sendReminders(ctx, ts.srv.clock()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(t0)
		b.StopTimer()
		if got := ts.rows(b, "outbox", "kind = 'email' AND template = 'reminder'"); got != n {
			b.Fatalf("%d reminder e-mails, want %d", got, n)
		}
		if got := ts.rows(b, "outbox", "kind = 'sms'"); got != n/10 {
			b.Fatalf("%d reminder SMS, want %d", got, n/10)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "reminders/s")
		b.ReportMetric(el.Seconds(), "s/10k")
	}
}
