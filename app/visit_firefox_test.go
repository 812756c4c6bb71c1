package app

// The call page in Firefox, the cross-browser case people really have: the
// practitioner in Chromium, the patient in Firefox (driven over WebDriver
// BiDi, firefox_test.go), through Daraport's TURN relay with relay-only ICE.
// The waiting room holds the Firefox patient until admitted; both decode
// the other's video over a relay ↔ relay pair; they chat both ways over the
// data channel; the practitioner shares the screen and Firefox shows it;
// the patient reloads and is back in the call. The pre-visit
// check works in Firefox too. Screenshots go to $DARAPORT_SCREENSHOTS (else
// a temporary directory), named ff-visit-NN-<step>.png.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ffCallStats reads the call's statistics in Firefox (visitStatsJS reads
// both browsers' getStats shapes).
func (p *ffTab) callStats() callStats {
	p.t.Helper()
	var st callStats
	p.eval("read the call's statistics", visitStatsJS, &st)
	return st
}

// waitCall polls until the remote video is decoded over a selected pair.
func (p *ffTab) waitCall(what string) callStats {
	p.t.Helper()
	return waitDecoded(p.t, p.who+" (Firefox)", what, p.callStats)
}

// waitState polls until the room's data-state is want.
func (p *ffTab) waitState(want string) {
	p.t.Helper()
	waitRoomState(p.t, p.who+" (Firefox)", want, func() string {
		var got string
		p.eval("read the room's state", `document.getElementById("visit-room").dataset.state`, &got)
		return got
	})
}

// sendChat types a message in the chat box and sends it, as a person does.
func (p *ffTab) sendChat(msg string) {
	p.t.Helper()
	p.waitJS("the chat is open", `!document.getElementById("visit-chat-input").disabled`, 10*time.Second)
	b, _ := json.Marshal(msg)
	p.eval("type a message", `(() => { const i = document.getElementById("visit-chat-input"); i.focus(); i.value = `+string(b)+`;
		i.dispatchEvent(new Event("input", {bubbles: true})); return true; })()`, nil)
	p.click("visit-chat-send")
}

func TestFirefoxVideoVisit(t *testing.T) {
	ff := startFirefox(t)
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
	pro := newParticipant(t, browserCtx, "practitioner", "en", shots)
	defer pro.close()
	patient := ff.newTab("patient", "ff-visit", shots, 1024, 800)
	link := ts.srv.appointmentVisitLink(context.Background(), w.appt)

	// 1. The patient opens the link in Firefox and waits.
	patient.navigate(link, 200)
	patient.waitState("waiting_room")
	if got, want := patient.text("#visit-status"), ts.text(t, "en", "visit.waiting_room"); got != want {
		t.Errorf("the patient reads %q, want %q", got, want)
	}
	patient.screenshot("01-patient-waiting")

	// 2. The practitioner, in Chromium, signs in and opens the visit.
	pro.navigate(ts.URL + "/login")
	pro.do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), w.pro.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword))
	pro.submit("sign in", chromedp.Click(chromedp.ID("login-submit")))
	pro.navigate(ts.URL + "/visits/" + w.appt.ID)
	pro.chooseLanguage("en")
	pro.waitState("patient_waiting")
	pro.do("the admit button shows", chromedp.WaitVisible(chromedp.ID("visit-admit")))
	pro.prefix = "ff-visit"
	pro.screenshot("02-practitioner-sees-waiting")
	// The waiting room holds the patient: no call while not admitted.
	time.Sleep(time.Second)
	patient.waitState("waiting_room")
	if st := patient.callStats(); st.Frames > 0 || st.Width > 0 {
		t.Fatalf("the Firefox patient receives video before being admitted: %+v", st)
	}

	// 3. Admitted: both decode the other's video through the relay.
	pro.do("admit the patient", chromedp.Click(chromedp.ID("visit-admit")))
	check := func(who string, st callStats) {
		t.Helper()
		if st.Local != "relay" || st.Remote != "relay" {
			t.Errorf("%s: selected pair %s ↔ %s, want relay ↔ relay", who, st.Local, st.Remote)
		}
		if !strings.HasPrefix(st.Address, "127.0.0.2:") {
			t.Errorf("%s: local candidate %s is not Daraport's relay (127.0.0.2)", who, st.Address)
		}
		t.Logf("%s: join → first remote frame %.0f ms (%d frames decoded, pair %s ↔ %s)", who, st.First-st.Ready, st.Frames, st.Local, st.Remote)
	}
	check("patient (Firefox)", patient.waitCall("first call"))
	check("practitioner (Chromium)", pro.waitCall("first call"))
	pro.waitState("in_call")
	patient.waitState("in_call")

	// 4. Chat over the data channel, both ways.
	pro.do("send a message",
		chromedp.WaitEnabled(chromedp.ID("visit-chat-input")),
		chromedp.SendKeys(chromedp.ID("visit-chat-input"), "Bonjour, je vous entends bien."),
		chromedp.Click(chromedp.ID("visit-chat-send")))
	patient.waitJS("the practitioner's message arrives",
		`[...document.querySelectorAll("#visit-chat-log li.chat_them")].some((li) => li.textContent.includes("Bonjour, je vous entends bien."))`, 5*time.Second)
	patient.sendChat("Moi aussi, merci.")
	if got := pro.text("#visit-chat-log li.chat_them"); !strings.Contains(got, "Moi aussi, merci.") {
		t.Errorf("the practitioner's chat shows %q", got)
	}
	if got := patient.text("#visit-chat-log li.chat_me"); !strings.Contains(got, "Moi aussi, merci.") {
		t.Errorf("the patient's own message shows as %q", got)
	}
	patient.screenshot("03-patient-in-call")
	pro.screenshot("03-practitioner-in-call")
	// 4b. The practitioner shares the screen (Chromium's fake capture picks
	// one without asking): the same sender switches track (replaceTrack, no
	// renegotiation) and Firefox decodes the new picture at its new size;
	// stopping the share brings the camera back.
	type size struct{ W, H int }
	remoteSize := func() size {
		var sz size
		patient.eval("read the remote video's size", `({W: document.getElementById("visit-remote").videoWidth, H: document.getElementById("visit-remote").videoHeight})`, &sz)
		return sz
	}
	waitSize := func(what string, ok func(size) bool) size {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			sz := remoteSize()
			if ok(sz) {
				return sz
			}
			if time.Now().After(deadline) {
				t.Fatalf("Firefox: %s: the remote video is %dx%d", what, sz.W, sz.H)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	camera := remoteSize()
	pro.do("share the screen", chromedp.Click(chromedp.ID("visit-share")))
	shared := waitSize("the practitioner's screen arrives", func(sz size) bool { return sz.W > 0 && sz != camera })
	before := patient.callStats().Frames
	time.Sleep(500 * time.Millisecond)
	if after := patient.callStats().Frames; after <= before {
		t.Errorf("Firefox decodes no frames of the shared screen (%d → %d)", before, after)
	}
	t.Logf("Firefox receives the camera at %dx%d, the shared screen at %dx%d", camera.W, camera.H, shared.W, shared.H)
	patient.screenshot("03b-patient-sees-shared-screen")
	pro.do("stop sharing", chromedp.Click(chromedp.ID("visit-share")))
	waitSize("the practitioner's camera comes back", func(sz size) bool { return sz == camera })

	// 4c. The patient picks a camera in the device menu (the fake one is
	// the only one): the page releases the open camera, opens the chosen
	// one and puts it in the call; the practitioner keeps receiving video.
	var oldTrack string
	patient.eval("read the camera track", `window.daraportVisit.pc.getSenders().find((s) => s.track && s.track.kind === "video").track.id`, &oldTrack)
	patient.clickCSS(".visit-devices summary")
	patient.eval("choose the camera", `(() => { const s = document.getElementById("visit-camera-select");
		s.value = s.options[0].value; s.dispatchEvent(new Event("change", {bubbles: true})); return s.options.length; })()`, nil)
	patient.waitJS("the chosen camera is in the call", `(() => { const s = window.daraportVisit.pc.getSenders().find((s) => s.track && s.track.kind === "video");
		return s.track.id !== `+jsQuote(oldTrack)+` && s.track.readyState === "live"; })()`, 5*time.Second)
	before = pro.callStats().Frames
	time.Sleep(700 * time.Millisecond)
	if after := pro.callStats().Frames; after <= before {
		t.Errorf("after the camera change the practitioner decodes no new frames (%d → %d)", before, after)
	}

	// 5. The patient reloads Firefox and is back in the call.
	patient.eval("mark the page", `(() => { window.daraportVisit.probe.mark = 1; return true; })()`, nil)
	patient.reload()
	var fresh bool
	patient.eval("check the reload", `!window.daraportVisit || window.daraportVisit.probe.mark === undefined`, &fresh)
	if !fresh {
		t.Fatal("the Firefox page was not reloaded")
	}
	patient.waitState("in_call")
	st := patient.waitCall("after the reload")
	if st.Local != "relay" || st.Remote != "relay" {
		t.Errorf("after the reload: pair %s ↔ %s", st.Local, st.Remote)
	}
	t.Logf("patient (Firefox) after reload: join → first remote frame %.0f ms", st.First-st.Ready)
	pro.waitCall("after the patient's reload")
	patient.screenshot("04-patient-back-after-reload")

	// 6. A phone-sized patient page.
	patient.setViewport(390, 844)
	patient.screenshot("05-patient-phone")

	// 7. The patient hangs up; the practitioner is told.
	patient.click("visit-hangup")
	patient.waitState("hung_up")
	pro.waitState("waiting_for_patient")
	patient.checkConsole("end of visit")
	pro.checkConsole("end of visit")
}

// The pre-visit check in Firefox: the camera preview works, and Firefox
// reaches the server's own peer through the relay over UDP and TCP (the
// test relay has no TLS listener).
func TestFirefoxVisitCheck(t *testing.T) {
	ff := startFirefox(t)
	shots := screenshotDir(t)
	w := newVisitWorld(t)
	ts := w.ts
	patient := ff.newTab("patient", "ff-visit", shots, 1024, 800)
	patient.navigate(ts.URL+"/visit/"+w.key+"/check", 200)
	patient.waitJS("the connection check finishes", `document.getElementById("visit-check").dataset.done === "true"`, 40*time.Second)
	type path struct {
		Path, State, RTT string
	}
	var paths []path
	patient.eval("read the paths",
		`Array.from(document.querySelectorAll("#check-paths li")).map(li => ({Path: li.dataset.path, State: li.dataset.state, RTT: li.dataset.rtt || ""}))`, &paths)
	want := map[string]string{"udp": "ok", "tcp": "ok", "tls": "none"}
	if len(paths) != len(want) {
		t.Errorf("the check shows %d paths, want %d: %+v", len(paths), len(want), paths)
	}
	for _, p := range paths {
		if p.State != want[p.Path] {
			t.Errorf("path %s: %s, want %s", p.Path, p.State, want[p.Path])
		}
		t.Logf("Firefox check over %s: %s, round trip %s ms", p.Path, p.State, p.RTT)
	}
	if got := patient.text("#check-result"); got != ts.text(t, "en", "visit.check_ok") {
		t.Errorf("camera check says %q", got)
	}
	var width int
	patient.eval("read the preview", `document.getElementById("check-video").videoWidth`, &width)
	if width == 0 {
		t.Error("the camera preview shows no picture")
	}
	// The level meter: Firefox may start its audio only after a click
	// (autoplay policy; whether the running camera capture already counts
	// depends on timing, and Firefox may report the audio running a moment
	// before it suspends it). So: the meter moves (the fake microphone is
	// a steady tone), or the page asks for a click, and after the click the
	// hint goes and the meter moves.
	clicked := false
	deadline := time.Now().Add(8 * time.Second)
	for {
		var m struct {
			Level float64
			Ask   bool
			Text  string
		}
		patient.eval("read the meter", `(() => { const e = document.getElementById("check-level-tap");
			return {Level: document.getElementById("check-level").value, Ask: !e.hidden && e.offsetParent !== null, Text: e.innerText}; })()`, &m)
		if m.Level > 0.05 && !m.Ask {
			break
		}
		if m.Ask && !clicked {
			if want := ts.text(t, "en", "visit.check_mic_tap"); squash(m.Text) != want {
				t.Errorf("the meter's hint says %q, want %q", m.Text, want)
			}
			t.Log("the level meter waits for a click")
			patient.screenshot("06-pre-visit-check-before-click")
			patient.click("check-h")
			clicked = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("the microphone level meter: level %.2f, asks for a click %v (clicked %v)", m.Level, m.Ask, clicked)
		}
		time.Sleep(100 * time.Millisecond)
	}
	patient.screenshot("06-pre-visit-check")
	patient.checkConsole("check")
}
