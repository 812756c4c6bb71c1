//go:build linux

package visit

import (
	"net/netip"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller reads the relay sockets of many allocations in one goroutine.
// pion/turn reads each relay socket in a goroutine of its own: every packet
// from a peer then costs a netpoller wake-up, a goroutine switch, a read,
// and a second read that finds the socket empty before the goroutine parks
// again, and under load the scheduler's and sysmon's thread switching on
// top; it was what kept the relay's CPU per message above coturn's. Here
// an epoll set holds the relay sockets (level-triggered, so a socket is
// read once per report and never up to EAGAIN), the set itself is waited
// on through Go's netpoller (an epoll descriptor is pollable), and one
// recvmmsg takes what a socket holds. What a peer sends on the channel the
// client is using right now goes out to the client from here (see
// relayConn.deliver); anything else is handed to pion's goroutine.
type poller struct {
	epfd int
	file *os.File // the epoll descriptor, registered with Go's netpoller

	mu    sync.Mutex
	conns map[int32]*relayConn
	next  int32

	// Only the poller's goroutine uses the rest. Datagrams are read into
	// slots; those going back to clients stay there until sent, in one
	// sendmmsg per listener, when the slots run out or the round ends.
	events [64]unix.EpollEvent
	ready  []*relayConn
	msgs   [pollSlots]unix.Mmsghdr
	iovs   [pollSlots]unix.Iovec
	names  [pollSlots]unix.RawSockaddrAny
	bufs   [pollSlots][]byte
	used   int // slots holding datagrams to send
	out    [pollSlots]unix.Mmsghdr
	outIov [pollSlots]unix.Iovec
	outTo  [pollSlots]unix.RawSockaddrInet6
	outVia [pollSlots]*listenConn
	nout   int
}

// pollBatch is how many datagrams one recvmmsg takes from a socket;
// pollSlots how many the poller holds before sending.
const (
	pollBatch = 8
	pollSlots = 64
)

// relayMTU is the largest datagram relayed whole (pion's own buffer size).
const relayMTU = 1600

func newPoller() *poller {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil
	}
	p := &poller{epfd: epfd, file: os.NewFile(uintptr(epfd), "relay-epoll"), conns: map[int32]*relayConn{}}
	for i := range p.bufs {
		// 4 bytes in front for the ChannelData header, 3 behind for padding.
		p.bufs[i] = make([]byte, 4+relayMTU+3)
		p.iovs[i].Base = &p.bufs[i][4]
		p.iovs[i].SetLen(relayMTU)
		p.msgs[i].Hdr.Iov = &p.iovs[i]
		p.msgs[i].Hdr.SetIovlen(1)
		p.out[i].Hdr.Iov = &p.outIov[i]
		p.out[i].Hdr.SetIovlen(1)
		p.out[i].Hdr.Name = (*byte)(unsafe.Pointer(&p.outTo[i]))
	}
	go p.run()
	return p
}

// add puts c's socket in the set; false leaves c to read its socket itself.
func (p *poller) add(c *relayConn) bool {
	if p == nil || c.udp == nil {
		return false
	}
	raw, err := c.udp.SyscallConn()
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	id := p.next
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cerr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: id})
	}); err != nil || cerr != nil {
		return false
	}
	c.raw, c.pollID = raw, id
	p.conns[id] = c
	return true
}

// remove takes c's socket out of the set (before it is closed).
func (p *poller) remove(c *relayConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c.pollID)
	_ = c.raw.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
}

func (p *poller) close() {
	if p != nil {
		p.file.Close()
	}
}

func (p *poller) run() {
	rc, err := p.file.SyscallConn()
	if err != nil {
		return
	}
	for {
		n := 0
		err := rc.Read(func(fd uintptr) bool {
			for {
				var err error
				n, err = unix.EpollWait(int(fd), p.events[:], 0)
				if err != unix.EINTR {
					return n > 0
				}
			}
		})
		if err != nil {
			return // closed
		}
		p.ready = p.ready[:0]
		p.mu.Lock()
		for _, ev := range p.events[:n] {
			if c := p.conns[ev.Fd]; c != nil {
				p.ready = append(p.ready, c)
			}
		}
		p.mu.Unlock()
		for i, c := range p.ready {
			if p.used+pollBatch > pollSlots {
				p.flush()
			}
			p.pump(c)
			p.ready[i] = nil
		}
		p.flush()
	}
}

// pump takes what c's socket holds (one recvmmsg into the free slots) and
// delivers it.
func (p *poller) pump(c *relayConn) {
	first, got := p.used, 0
	msgs := p.msgs[first : first+pollBatch]
	err := c.raw.Read(func(fd uintptr) bool {
		for i := range msgs {
			msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&p.names[first+i]))
			msgs[i].Hdr.Namelen = unix.SizeofSockaddrAny
			msgs[i].Hdr.Flags = 0
		}
		for {
			r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)),
				unix.MSG_DONTWAIT, 0, 0)
			if errno == unix.EINTR {
				continue
			}
			if errno == 0 {
				got = int(r)
			}
			return true // never wait: the epoll set says when to come back
		}
	})
	if err != nil {
		return
	}
	for i := first; i < first+got; i++ {
		src, ok := sockaddrAddrPort(&p.names[i])
		if !ok || p.msgs[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		n := int(p.msgs[i].Len)
		buf := p.bufs[i]
		rt := c.deliver(buf[4:4+n], src)
		if rt == nil {
			continue
		}
		buf[0], buf[1], buf[2], buf[3] = rt.ch[0], rt.ch[1], byte(n>>8), byte(n)
		m := 4 + n
		for ; m%4 != 0; m++ {
			buf[m] = 0 // pion pads ChannelData to 4 bytes, over UDP too
		}
		p.queue(buf[:m], rt)
		p.used = i + 1 // the slot stays taken until sent
	}
}

// queue adds a datagram for rt's client to the next sendmmsg.
func (p *poller) queue(b []byte, rt *route) {
	i := p.nout
	p.outIov[i].Base = &b[0]
	p.outIov[i].SetLen(len(b))
	to := &p.outTo[i]
	a := rt.client.Addr()
	if a.Is4() {
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(to))
		s4.Family = unix.AF_INET
		s4.Addr = a.As4()
		port := (*[2]byte)(unsafe.Pointer(&s4.Port))
		port[0], port[1] = byte(rt.client.Port()>>8), byte(rt.client.Port())
		p.out[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	} else {
		*to = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		port := (*[2]byte)(unsafe.Pointer(&to.Port))
		port[0], port[1] = byte(rt.client.Port()>>8), byte(rt.client.Port())
		p.out[i].Hdr.Namelen = unix.SizeofSockaddrInet6
	}
	p.outVia[i] = rt.listener
	p.nout++
}

// flush sends the queued datagrams, one sendmmsg per run of the same
// listener, and frees the slots.
func (p *poller) flush() {
	for i := 0; i < p.nout; {
		l := p.outVia[i]
		j := i + 1
		for j < p.nout && p.outVia[j] == l {
			j++
		}
		p.send(l, p.out[i:j])
		i = j
	}
	clear(p.outVia[:p.nout])
	p.nout, p.used = 0, 0
}

func (p *poller) send(l *listenConn, msgs []unix.Mmsghdr) {
	if l.raw == nil {
		return
	}
	_ = l.raw.Write(func(fd uintptr) bool {
		for len(msgs) > 0 {
			r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
			switch errno {
			case 0:
				msgs = msgs[r:]
			case unix.EINTR:
			case unix.EAGAIN:
				return false // the socket buffer is full: wait, as a write would
			default:
				msgs = msgs[1:] // this one fails (as pion's write would log): go on
			}
		}
		return true
	})
}

func sockaddrAddrPort(sa *unix.RawSockaddrAny) (netip.AddrPort, bool) {
	switch sa.Addr.Family {
	case unix.AF_INET:
		s := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&s.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(s.Addr), uint16(p[0])<<8|uint16(p[1])), true
	case unix.AF_INET6:
		s := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		p := (*[2]byte)(unsafe.Pointer(&s.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(s.Addr), uint16(p[0])<<8|uint16(p[1])), true
	}
	return netip.AddrPort{}, false
}
