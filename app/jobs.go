package app

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// job is one scheduled task: a named, idempotent method taking (ctx, now).
type job struct {
	name string
	spec string
	run  func(ctx context.Context, now time.Time) error
}

// jobs lists every scheduled job in one place.
func (s *Server) jobs() []job {
	h, m := 2, 30
	fmt.Sscanf(s.cfg.Planning.RollAt, "%d:%d", &h, &m)
	return []job{
		{"sessions.cleanup", "@every 1h", s.cleanupSessions},
		{"waitlist.expire", "@every 1m", s.expireOffers}, // series/waitlist.go: expired holds go to the next patient
		{"reminders.send", "@every 1m", s.sendReminders}, // notices.go
		// The nightly roll; Serve also runs it at start to catch up.
		{"planning.roll", fmt.Sprintf("%d %d * * *", m, h), s.roll},
		s.backupJob(), // backup_job.go: nightly backup at backup.at
	}
}

// startJobs starts the one cron instance the server owns and returns the
// function that stops it and waits for running jobs.
func (s *Server) startJobs(ctx context.Context) func() {
	c := cron.New(cron.WithLocation(time.Local), cron.WithChain(cron.Recover(cron.PrintfLogger(slogPrintf{s})), cron.SkipIfStillRunning(cron.DiscardLogger)))
	for _, j := range s.jobs() {
		j := j
		_, err := c.AddFunc(j.spec, func() {
			if err := j.run(ctx, s.clock()); err != nil {
				s.log.Error("job failed", "job", j.name, "err", err)
			}
		})
		if err != nil {
			s.log.Error("job not scheduled", "job", j.name, "err", err)
		}
	}
	c.Start()
	return func() { <-c.Stop().Done() }
}

type slogPrintf struct{ s *Server }

func (l slogPrintf) Printf(format string, args ...any) { l.s.log.Error("cron", "msg", format) }

func (s *Server) cleanupSessions(ctx context.Context, now time.Time) error {
	_, err := s.db.DeleteExpiredSessions(ctx)
	return err
}
