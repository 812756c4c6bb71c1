//go:build !linux

package visit

// poller exists on Linux only (poll_linux.go); elsewhere pion's goroutine
// reads each relay socket.
type poller struct{}

func newPoller() *poller              { return nil }
func (p *poller) add(*relayConn) bool { return false }
func (p *poller) remove(*relayConn)   {}
func (p *poller) close()              {}
