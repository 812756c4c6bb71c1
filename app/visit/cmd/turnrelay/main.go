// Command turnrelay runs Daraport's TURN relay (app/visit) alone, with a
// TURN REST shared secret, for the side-by-side comparison with coturn
// (app/visit/bench/turn-vs-coturn.sh). It is not part of the product: the
// server starts the same relay from `daraport serve`.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"daraport/app/visit"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3478", "UDP and TCP address")
	public := flag.String("public", "127.0.0.1", "relay address")
	secret := flag.String("secret", "", "TURN REST shared secret")
	allow := flag.String("allow", "127.0.0.1/32", "prefix the relay may reach although not public (the echo peer)")
	minPort := flag.Int("min-port", 49152, "lowest relayed port")
	maxPort := flag.Int("max-port", 65535, "highest relayed port")
	kbps := flag.Int("bandwidth-kbps", 0, "per allocation and direction (0: no limit)")
	listeners := flag.Int("udp-listeners", 2, "SO_REUSEPORT UDP sockets")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file until stopped")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	var allowed []netip.Prefix
	if *allow != "" {
		allowed = append(allowed, netip.MustParsePrefix(*allow))
	}
	r, err := visit.Start(visit.Config{Listen: *listen, PublicIP: *public, Secret: []byte(*secret), AllowPeers: allowed,
		MinPort: *minPort, MaxPort: *maxPort, BandwidthBytes: int64(*kbps) * 1000 / 8, UDPListeners: *listeners})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Printf("%+v\n", r.Stats())
	r.Close()
}
