package visit

import (
	"context"
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/pion/webrtc/v4"
)

// ErrBusy means too many connection checks run at once.
var ErrBusy = errors.New("visit: too many connection checks at once")

// checkSlots bounds the server peers the pre-visit check runs at once.
const checkSlots = 8

// checkLife is how long a check's server peer lives at most.
const checkLife = 30 * time.Second

// AnswerCheck runs the pre-visit check's server side (DESIGN §6): a
// pion/webrtc peer that may only use this relay answers the browser's
// offer and echoes what arrives on its data channels, so the browser learns
// whether relaying works over the transport it chose, and the round-trip
// time. The peer ends after checkLife. Returns ErrBusy when checkSlots
// checks already run.
func (r *Relay) AnswerCheck(ctx context.Context, offer string) (string, error) {
	select {
	case r.checks <- struct{}{}:
	default:
		return "", ErrBusy
	}
	release := func() { <-r.checks }
	se := webrtc.SettingEngine{}
	se.SetRelayAcceptanceMinWait(0)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	user, cred := r.Credentials("check", r.now().Add(checkLife+time.Minute))
	host := r.localHost()
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers: []webrtc.ICEServer{{URLs: []string{"turn:" + net.JoinHostPort(host, strconv.Itoa(r.udpPort)) + "?transport=udp"},
			Username: user, Credential: cred}},
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
	})
	if err != nil {
		release()
		return "", err
	}
	var once bool
	end := func() {
		if !once {
			once = true
			pc.Close()
			release()
		}
	}
	timer := time.AfterFunc(checkLife, func() { end() })
	pc.OnDataChannel(func(d *webrtc.DataChannel) {
		d.OnMessage(func(m webrtc.DataChannelMessage) {
			if len(m.Data) <= 256 {
				_ = d.Send(m.Data)
			}
		})
	})
	fail := func(err error) (string, error) {
		timer.Stop()
		end()
		return "", err
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(5 * time.Second):
		return fail(errors.New("visit: the check peer gathered no relay candidate"))
	}
	return pc.LocalDescription().SDP, nil
}

// localHost is where a peer on this machine reaches the relay.
func (r *Relay) localHost() string {
	host, _, _ := net.SplitHostPort(r.cfg.Listen)
	if a, err := net.ResolveIPAddr("ip", host); err == nil && host != "" && !a.IP.IsUnspecified() {
		return host
	}
	return "127.0.0.1"
}
