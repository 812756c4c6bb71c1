package visit

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRelayUDP sends 1000-byte packets from a TURN client through the
// relay to a peer on the relay's own address (as between two relayed
// parties of a visit) and waits for each: one op is one relayed packet,
// client → relay → peer, including both hops' system calls.
func BenchmarkRelayUDP(b *testing.B) {
	r, err := Start(Config{Listen: "127.0.0.1:0", PublicIP: "127.0.0.2", MinPort: 20000, MaxPort: 20999})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var peer net.PacketConn
	for p := 20500; p < 20999 && peer == nil; p++ {
		peer, _ = net.ListenPacket("udp4", "127.0.0.2:"+strconv.Itoa(p))
	}
	if peer == nil {
		b.Fatal("no free port for the peer")
	}
	defer peer.Close()
	user, pass := r.Credentials("bench", time.Now().Add(time.Hour))
	_, relayConn, err := turnClient(b, r, user, pass)
	if err != nil {
		b.Fatal(err)
	}
	defer relayConn.Close()
	msg := make([]byte, 1000)
	buf := make([]byte, 1500)
	// The first packet creates the permission and binds a channel.
	if _, err := relayConn.WriteTo(msg, peer.LocalAddr()); err != nil {
		b.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := peer.ReadFrom(buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := relayConn.WriteTo(msg, peer.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, _, err := peer.ReadFrom(buf); err != nil {
			b.Fatalf("packet %d lost: %v", i, err)
		}
	}
}
