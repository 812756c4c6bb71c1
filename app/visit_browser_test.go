package app

// Two Chromium contexts hold a video visit through Daraport's TURN relay:
// the patient opens the secret link and waits; the practitioner signs in,
// opens the visit, sees the patient waiting and lets them in; both receive
// the other's (fake camera) video, decoded, over a relay ↔ relay candidate
// pair; they chat over the data channel; a third browser signed in as
// another practice's practitioner gets no room; the patient reloads and is back
// in the call. The time from admission ("join") to the first remote frame
// is logged. Screenshots go to $DARAPORT_SCREENSHOTS (else a temporary
// directory), named en-visit-NN-<step>.png.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// callStats is what visitStatsJS reads from a page.
type callStats struct {
	Frames  int      `json:"frames"`
	Local   string   `json:"local"`
	Remote  string   `json:"remote"`
	Width   int      `json:"width"`
	State   string   `json:"state"`
	Errors  []string `json:"errors"`
	Ready   float64  `json:"ready"`
	First   float64  `json:"first"`
	Address string   `json:"address"`
}

const visitStatsJS = `(async () => {
  const v = window.daraportVisit, pc = v && v.pc;
  const out = {frames: 0, local: "", remote: "", width: document.getElementById("visit-remote").videoWidth,
    state: document.getElementById("visit-room").dataset.state, errors: v ? v.probe.iceErrors : [],
    ready: v ? v.probe.readyAt : 0, first: v ? v.probe.firstFrameAt : 0, address: ""};
  if (!pc) return out;
  const s = await pc.getStats();
  // Chromium names the selected pair in its transport stats; Firefox has no
  // transport stats and flags the pair itself ("selected", non-standard),
  // else the nominated, succeeded pair is the one in use.
  let pairID = null, flagged = null, nominated = null; const pairs = {}, cands = {};
  s.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") out.frames += r.framesDecoded || 0;
    if (r.type === "transport" && r.selectedCandidatePairId) pairID = r.selectedCandidatePairId;
    if (r.type === "candidate-pair") {
      pairs[r.id] = r;
      if (r.selected) flagged = r.id;
      else if (r.nominated && r.state === "succeeded" && !nominated) nominated = r.id;
    }
    if (r.type === "local-candidate" || r.type === "remote-candidate") cands[r.id] = r;
  });
  const pair = pairs[pairID || flagged || nominated];
  if (pair) {
    out.local = cands[pair.localCandidateId].candidateType;
    out.remote = cands[pair.remoteCandidateId].candidateType;
    out.address = cands[pair.localCandidateId].address + ":" + cands[pair.localCandidateId].port;
  }
  return out;
})()`

func (p *participant) callStats() callStats {
	p.t.Helper()
	st, err := chromedp.Run(p.step(), chromedp.Evaluate[callStats](visitStatsJS, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fail("read the call's statistics", err)
	}
	return st
}

// waitCall polls until the remote video is decoded over a relayed pair.
func (p *participant) waitCall(what string) callStats {
	p.t.Helper()
	return waitDecoded(p.t, p.who, what, p.callStats)
}

// waitState polls until the room's data-state is want.
func (p *participant) waitState(want string) {
	p.t.Helper()
	waitRoomState(p.t, p.who, want, func() string {
		s, err := chromedp.Run(p.step(), chromedp.Evaluate[string](`document.getElementById("visit-room").dataset.state`))
		if err != nil {
			p.fail("read the room's state", err)
		}
		return s
	})
}

// waitDecoded polls read (either browser's statistics) until the remote
// video is decoded over a selected pair, and fails the test after 20 s.
func waitDecoded(t testing.TB, who, what string, read func() callStats) callStats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var st callStats
	for time.Now().Before(deadline) {
		st = read()
		if len(st.Errors) > 0 {
			t.Fatalf("%s: %s: ICE candidate errors %v (TURN refused?)", who, what, st.Errors)
		}
		if st.Width > 0 && st.Frames > 0 && st.Local != "" && st.First > 0 {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %s: no remote video decoded within 20 s: %+v", who, what, st)
	return st
}

// waitRoomState polls read until the room's state is want (15 s at most).
func waitRoomState(t testing.TB, who, want string, read func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		if got = read(); got == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: the room is %q, want %q", who, got, want)
}

func TestBrowserVideoVisit(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	w := newVisitWorld(t)
	ts := w.ts
	w.enterWindow(t)
	browserCtx := startBrowser(t, exe, 1024, 800,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true))

	patient := newParticipant(t, browserCtx, "patient", "en", shots)
	defer patient.close()
	pro := newParticipant(t, browserCtx, "practitioner", "en", shots)
	defer pro.close()
	link := ts.srv.appointmentVisitLink(context.Background(), w.appt)

	// 1. The patient opens the link and waits.
	patient.navigate(link)
	patient.chooseLanguage("en")
	patient.waitState("waiting_room")
	if got, want := patient.text("#visit-status"), ts.text(t, "en", "visit.waiting_room"); got != want {
		t.Errorf("the patient reads %q, want %q", got, want)
	}
	patient.prefix = "en-visit"
	patient.screenshot("01-patient-waiting")

	// 2. The practitioner signs in and opens the visit.
	pro.navigate(ts.URL + "/login")
	pro.do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), w.pro.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword))
	pro.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	pro.navigate(ts.URL + "/visits/" + w.appt.ID)
	pro.chooseLanguage("en")
	pro.waitState("patient_waiting")
	pro.do("the admit button shows", chromedp.WaitVisible(chromedp.ID("visit-admit")))
	pro.prefix = "en-visit"
	pro.screenshot("02-practitioner-sees-waiting")
	// The waiting room holds the patient: no call while not admitted.
	time.Sleep(time.Second)
	patient.waitState("waiting_room")
	if st := patient.callStats(); st.Frames > 0 || st.Width > 0 {
		t.Fatalf("the patient receives video before being admitted: %+v", st)
	}

	// 3. Admitted: both see and hear each other through the relay.
	pro.do("admit the patient", chromedp.Click(chromedp.ID("visit-admit")))
	for _, p := range []*participant{pro, patient} {
		st := p.waitCall("first call")
		if st.Local != "relay" || st.Remote != "relay" {
			t.Errorf("%s: selected pair %s ↔ %s, want relay ↔ relay", p.who, st.Local, st.Remote)
		}
		if !strings.HasPrefix(st.Address, "127.0.0.2:") {
			t.Errorf("%s: local candidate %s is not Daraport's relay (127.0.0.2)", p.who, st.Address)
		}
		t.Logf("%s: join → first remote frame %.0f ms (%d frames decoded, pair %s ↔ %s)", p.who, st.First-st.Ready, st.Frames, st.Local, st.Remote)
	}
	pro.waitState("in_call")
	patient.waitState("in_call")

	// 4. Chat over the data channel.
	pro.do("send a message",
		chromedp.WaitEnabled(chromedp.ID("visit-chat-input")),
		chromedp.SendKeys(chromedp.ID("visit-chat-input"), "Bonjour, je vous entends bien."),
		chromedp.Click(chromedp.ID("visit-chat-send")))
	if got := patient.text("#visit-chat-log li.chat_them"); !strings.Contains(got, "Bonjour, je vous entends bien.") {
		t.Errorf("the patient's chat shows %q", got)
	}
	patient.screenshot("03-patient-in-call")
	pro.screenshot("03-practitioner-in-call")

	// 4b. A third browser, signed in as another practice's practitioner,
	// gets no room (404, nothing about the visit), and the call goes on.
	other := newParticipant(t, browserCtx, "other practice", "en", shots)
	defer other.close()
	other.navigate(ts.URL + "/login")
	other.do("sign in", chromedp.SendKeys(chromedp.ID("email"), w.proB.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword))
	other.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	res, err := chromedp.Run(other.step(), chromedp.NavigateResponse(ts.URL+"/visits/"+w.appt.ID))
	if err != nil {
		other.fail("open the visit", err)
	}
	rooms, err := chromedp.Run(other.step(), chromedp.Evaluate[int](`document.querySelectorAll("#visit-room, video").length`))
	if err != nil || res.Status != 404 || rooms != 0 {
		t.Fatalf("another practice's practitioner: status %d, %d room elements (err %v)", res.Status, rooms, err)
	}
	before := pro.callStats().Frames
	time.Sleep(500 * time.Millisecond)
	if after := pro.callStats().Frames; after <= before {
		t.Errorf("the call stalled while a third browser tried to join (%d → %d frames)", before, after)
	}

	// 5. The patient reloads and is back in the call.
	if _, err := chromedp.Run(patient.step(), chromedp.Evaluate[bool](`(() => { window.daraportVisit.probe.mark = 1; return true; })()`)); err != nil {
		patient.fail("mark the page", err)
	}
	patient.do("reload", chromedp.Reload())
	if fresh, err := chromedp.Run(patient.step(), chromedp.Evaluate[bool](`!window.daraportVisit || window.daraportVisit.probe.mark === undefined`)); err != nil || !fresh {
		t.Fatalf("the page was not reloaded (err %v)", err)
	}
	patient.waitState("in_call")
	st := patient.waitCall("after the reload")
	if st.Local != "relay" || st.Remote != "relay" {
		t.Errorf("after the reload: pair %s ↔ %s", st.Local, st.Remote)
	}
	t.Logf("patient after reload: join → first remote frame %.0f ms", st.First-st.Ready)
	pro.waitCall("after the patient's reload")
	patient.screenshot("04-patient-back-after-reload")

	// 6. A phone-sized patient page.
	patient.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	patient.screenshot("05-patient-phone")

	// 7. The patient hangs up; the practitioner is told.
	patient.do("hang up", chromedp.Click(chromedp.ID("visit-hangup")))
	patient.waitState("hung_up")
	pro.waitState("waiting_for_patient")
	patient.checkConsole("end of visit")
	pro.checkConsole("end of visit")
	if s := ts.srv.VisitStats(); s.AllocationsTotal == 0 || s.BytesToPeers == 0 {
		t.Errorf("relay counters after the call: %+v", s)
	} else {
		t.Logf("relay counters: %s", fmt.Sprintf("%+v", s))
	}
}

// The pre-visit check, a day before the visit: the camera preview works,
// and the browser reaches the server's own peer through the relay over
// UDP and TCP (this test relay has no TLS listener, so the page leaves that
// way out).
func TestBrowserVisitCheck(t *testing.T) {
	exe := chromiumPath(t)
	shots := screenshotDir(t)
	w := newVisitWorld(t)
	ts := w.ts
	browserCtx := startBrowser(t, exe, 1024, 800,
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true))
	patient := newParticipant(t, browserCtx, "patient", "en", shots)
	defer patient.close()
	// Too early for the room: the page says when it opens and links the check.
	// (403: the room is not open; the page is still for people.)
	patient.do("open the link early", chromedp.Navigate(ts.URL+"/visit/"+w.key))
	if got, want := patient.text("#visit-closed"), ts.text(t, "en", "visit.err_early"); got != want {
		t.Errorf("too early the link says %q, want %q", got, want)
	}
	// Chromium logs the 403 document as a failed resource: expected here.
	patient.mu.Lock()
	kept := patient.problems[:0]
	for _, m := range patient.problems {
		if !strings.Contains(m, "status of 403") {
			kept = append(kept, m)
		}
	}
	patient.problems = kept
	patient.mu.Unlock()
	patient.submit("open the check", chromedp.Click(chromedp.ID("visit-check-link")))
	patient.expectPath("/visit/" + w.key + "/check")
	deadline := time.Now().Add(40 * time.Second)
	for {
		done, err := chromedp.Run(patient.step(), chromedp.Evaluate[bool](`document.getElementById("visit-check").dataset.done === "true"`))
		if err != nil {
			patient.fail("read the check", err)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection check did not finish within 40 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	type path struct {
		Path, State, RTT string
	}
	paths, err := chromedp.Run(patient.step(), chromedp.Evaluate[[]path](
		`Array.from(document.querySelectorAll("#check-paths li")).map(li => ({Path: li.dataset.path, State: li.dataset.state, RTT: li.dataset.rtt || ""}))`))
	if err != nil {
		patient.fail("read the paths", err)
	}
	want := map[string]string{"udp": "ok", "tcp": "ok", "tls": "none"}
	for _, p := range paths {
		if p.State != want[p.Path] {
			t.Errorf("path %s: %s, want %s", p.Path, p.State, want[p.Path])
		}
		t.Logf("check over %s: %s, round trip %s ms", p.Path, p.State, p.RTT)
	}
	if ok := patient.text("#check-result"); ok != ts.text(t, "en", "visit.check_ok") {
		t.Errorf("camera check says %q", ok)
	}
	patient.prefix = "en-visit"
	patient.screenshot("06-pre-visit-check")
	patient.checkConsole("check")
}
