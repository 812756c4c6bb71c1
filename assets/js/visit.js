// Daraport video visit: the call page (/visit/{key}, /visits/{id}) and the
// pre-visit check (/visit-check). No inline script: the page's data comes
// from data- attributes, its words from the hidden #visit-msgs list.
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const msgs = {};
  document.querySelectorAll('#visit-msgs [data-k]').forEach((li) => { msgs[li.dataset.k] = li.textContent; });
  const t = (k) => msgs[k] || k;

  if ($('visit-check')) { check(); return; }
  const root = $('visit-room');
  if (!root) return;

  const staff = root.dataset.role === 'staff';
  const status = $('visit-status');
  const remoteV = $('visit-remote');
  const localV = $('visit-local');
  let ws = null; let pc = null; let chat = null; let local = new MediaStream();
  let iceServers = []; let pending = []; let backoff = 500;
  let ended = false; let facing = 'user'; let screen = null; let failTimer = 0;
  // Measured for the tests and the quality indicator.
  const probe = { readyAt: 0, firstFrameAt: 0, iceErrors: [], joins: 0 };
  window.daraportVisit = { probe, get pc() { return pc; }, get chat() { return chat; } };

  // onGesture runs fn once, on the person's next click, tap or key: what
  // browsers require before they start sound.
  function onGesture(fn) {
    const once = () => { document.removeEventListener('pointerdown', once, true); document.removeEventListener('keydown', once, true); fn(); };
    document.addEventListener('pointerdown', once, true);
    document.addEventListener('keydown', once, true);
  }

  function say(k) { status.textContent = t(k); root.dataset.state = k; }
  function send(m) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(m)); }

  // --- Media ---
  async function startMedia() {
    try {
      local = await navigator.mediaDevices.getUserMedia({ video: { facingMode: facing }, audio: true });
    } catch (e) {
      try { local = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (e2) { local = new MediaStream(); say('no_media'); }
    }
    localV.srcObject = local;
    await listDevices();
  }

  async function listDevices() {
    let devices = [];
    try { devices = await navigator.mediaDevices.enumerateDevices(); } catch (e) { return; }
    const fill = (sel, kind, track) => {
      sel.textContent = '';
      devices.filter((d) => d.kind === kind).forEach((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId; o.textContent = d.label || (kind + ' ' + (i + 1));
        if (track && track.getSettings().deviceId === d.deviceId) o.selected = true;
        sel.appendChild(o);
      });
    };
    fill($('visit-camera-select'), 'videoinput', local.getVideoTracks()[0]);
    fill($('visit-mic-select'), 'audioinput', local.getAudioTracks()[0]);
    $('visit-flip').hidden = devices.filter((d) => d.kind === 'videoinput').length < 2;
  }

  // replace puts a new track of its kind in the local stream and the call.
  async function replace(track) {
    const old = track.kind === 'video' ? local.getVideoTracks()[0] : local.getAudioTracks()[0];
    if (old) { local.removeTrack(old); old.stop(); }
    local.addTrack(track);
    localV.srcObject = local;
    if (pc) {
      const sender = pc.getSenders().find((s) => s.track && s.track.kind === track.kind) ||
        pc.getTransceivers().find((tr) => tr.receiver.track.kind === track.kind)?.sender;
      if (sender && !(track.kind === 'video' && screen)) await sender.replaceTrack(track);
    }
  }

  async function useDevice(kind, deviceId) {
    if (kind === 'video') { await switchCamera([{ deviceId: { exact: deviceId } }]); return; }
    const s = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: deviceId } } });
    await replace(s.getAudioTracks()[0]);
  }

  // switchCamera opens the first camera the constraints find. Phones
  // (Firefox for Android, Safari on iOS) cannot open a second camera while
  // one is open: getUserMedia fails (NotReadableError) or silently ends the
  // first track. So the camera in use is released first, and taken back if
  // no other one opens.
  async function switchCamera(tries) {
    const old = local.getVideoTracks()[0];
    const back = old && old.getSettings().deviceId;
    if (old) old.stop();
    for (const video of tries) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ video });
        await replace(s.getVideoTracks()[0]);
        return true;
      } catch (e) { /* try the next way */ }
    }
    if (old) {
      try {
        const s = await navigator.mediaDevices.getUserMedia({ video: back ? { deviceId: { exact: back } } : true });
        await replace(s.getVideoTracks()[0]);
      } catch (e) { console.warn('camera', e); }
    }
    return false;
  }

  // --- Signaling ---
  function connect(resume) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(proto + '//' + location.host + root.dataset.socket);
    ws.onopen = () => {
      backoff = 500;
      send({ type: 'hello', resume: !!(resume && pc && pc.connectionState !== 'closed') });
    };
    ws.onmessage = (ev) => { let m; try { m = JSON.parse(ev.data); } catch (e) { return; } onMessage(m); };
    ws.onclose = () => {
      if (ended) return;
      say('reconnecting');
      setTimeout(() => { if (!ended) connect(true); }, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
  }

  function finish(k) {
    ended = true;
    say(k);
    if (ws) ws.close();
    if (pc) pc.close();
    pc = null;
    local.getTracks().forEach((tr) => tr.stop());
    if (screen) screen.getTracks().forEach((tr) => tr.stop());
    $('visit-admit').hidden = true;
    enableChat(false);
  }

  function onMessage(m) {
    switch (m.type) {
      case 'welcome':
        iceServers = m.ice_servers || [];
        probe.joins++;
        break;
      case 'state':
        $('visit-admit').hidden = !(staff && m.waiting);
        if (staff) say(m.waiting ? 'patient_waiting' : (m.peer ? 'connecting' : 'waiting_for_patient'));
        else say(!m.admitted ? 'waiting_room' : (m.peer ? 'connecting' : 'waiting_for_staff'));
        if (!m.peer && pc) { pc.close(); pc = null; remoteV.srcObject = null; enableChat(false); }
        break;
      case 'ready':
        probe.readyAt = performance.now(); probe.firstFrameAt = 0;
        say('connecting');
        if (m.resume && pc && pc.signalingState !== 'closed') { if (staff) restartIce(); return; }
        newPC();
        if (staff) offer(false);
        break;
      case 'signal': onSignal(m.data); break;
      case 'restart': if (staff && pc) restartIce(); break;
      case 'full': finish('full'); break;
      case 'closed': finish('over'); break;
    }
  }

  function newPC() {
    if (pc) pc.close();
    pending = [];
    // With the relay running, media always goes through it: neither party
    // learns the other's IP address, and it works behind strict firewalls.
    pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: iceServers.length ? 'relay' : 'all', bundlePolicy: 'max-bundle' });
    const p = pc;
    local.getTracks().forEach((tr) => p.addTrack(tr, local));
    if (!local.getVideoTracks().length) p.addTransceiver('video', { direction: 'sendrecv' });
    if (!local.getAudioTracks().length) p.addTransceiver('audio', { direction: 'sendrecv' });
    if (screen) {
      const s = p.getSenders().find((x) => x.track && x.track.kind === 'video');
      if (s) s.replaceTrack(screen.getVideoTracks()[0]);
    }
    chat = p.createDataChannel('chat', { negotiated: true, id: 0 });
    chat.onopen = () => enableChat(true);
    chat.onclose = () => enableChat(false);
    chat.onmessage = (ev) => addChat('chat_them', String(ev.data).slice(0, 2000));
    p.ontrack = (ev) => {
      if (p !== pc) return;
      const s = ev.streams[0] || new MediaStream([ev.track]);
      if (remoteV.srcObject !== s) { remoteV.srcObject = s; playRemote(); }
      watchFirstFrame();
    };
    p.onicecandidate = (ev) => { if (ev.candidate && p === pc) send({ type: 'signal', data: { candidate: ev.candidate.toJSON() } }); };
    p.onicecandidateerror = (ev) => { probe.iceErrors.push(ev.errorCode + ' ' + (ev.url || '')); };
    p.onconnectionstatechange = () => {
      if (p !== pc) return;
      clearTimeout(failTimer);
      switch (p.connectionState) {
        case 'connected': say('in_call'); quality().catch(() => {}); break;
        case 'disconnected': say('reconnecting'); failTimer = setTimeout(recover, 3000); break;
        case 'failed': recover(); break;
      }
    };
  }

  function recover() {
    if (!pc || ended) return;
    if (staff) restartIce(); else send({ type: 'restart' });
  }

  async function offer(iceRestart) {
    const p = pc;
    try {
      const o = await p.createOffer({ iceRestart });
      if (p !== pc) return;
      await p.setLocalDescription(o);
      send({ type: 'signal', data: { description: p.localDescription } });
    } catch (e) { console.warn('offer', e); }
  }

  function restartIce() { if (pc.restartIce) pc.restartIce(); offer(true); }

  async function onSignal(d) {
    if (!d) return;
    try {
      if (d.description) {
        if (!pc || (d.description.type === 'offer' && pc.signalingState === 'closed')) newPC();
        const p = pc;
        await p.setRemoteDescription(d.description);
        if (d.description.type === 'offer') {
          await p.setLocalDescription(await p.createAnswer());
          send({ type: 'signal', data: { description: p.localDescription } });
        }
        const q = pending; pending = [];
        for (const c of q) await p.addIceCandidate(c).catch(() => {});
      } else if (d.candidate) {
        if (pc && pc.remoteDescription) await pc.addIceCandidate(d.candidate).catch(() => {});
        else pending.push(d.candidate);
      }
    } catch (e) { console.warn('signal', e); }
  }

  // playRemote starts the remote video. Browsers let a page that captures
  // the camera or microphone play sound at once; a page that captures
  // nothing (both refused) may not autoplay sound before a click (Firefox,
  // Safari, Chromium): then the picture plays muted and the sound comes
  // with the person's first click or key.
  function playRemote() {
    const pr = remoteV.play();
    if (!pr) return;
    pr.catch((e) => {
      if (e.name !== 'NotAllowedError') return;
      remoteV.muted = true;
      remoteV.play().catch(() => {});
      onGesture(() => { remoteV.muted = false; remoteV.play().catch(() => {}); });
    });
  }

  function watchFirstFrame() {
    const mark = () => { if (!probe.firstFrameAt) probe.firstFrameAt = performance.now(); };
    if (remoteV.requestVideoFrameCallback) remoteV.requestVideoFrameCallback(mark);
    else remoteV.addEventListener('loadeddata', mark, { once: true });
  }

  // --- Quality, from getStats ---
  let last = null;
  async function quality() {
    const q = $('visit-quality');
    if (!pc || pc.connectionState !== 'connected') { q.dataset.level = 'none'; q.textContent = t('quality_none'); return; }
    const stats = await pc.getStats();
    let rtt = null; let lost = 0; let recv = 0;
    const pair = selectedPair(stats);
    if (pair && typeof pair.currentRoundTripTime === 'number') rtt = pair.currentRoundTripTime;
    stats.forEach((s) => {
      if (s.type === 'inbound-rtp') { lost += s.packetsLost || 0; recv += s.packetsReceived || 0; }
      // Without a pair round trip (older Firefox, Safari), the RTCP one.
      if (rtt === null && s.type === 'remote-inbound-rtp' && typeof s.roundTripTime === 'number') rtt = s.roundTripTime;
    });
    let loss = 0;
    if (last) { const dr = recv - last.recv; const dl = lost - last.lost; loss = dr + dl > 0 ? dl / (dr + dl) : 0; }
    last = { recv, lost };
    let level = 'good';
    if (loss > 0.1 || (rtt !== null && rtt > 0.6)) level = 'poor';
    else if (loss > 0.02 || (rtt !== null && rtt > 0.3)) level = 'fair';
    q.dataset.level = level;
    q.textContent = t('quality_' + level);
  }
  setInterval(() => { quality().catch(() => {}); }, 2000);

  // selectedPair is the candidate pair in use. The standard way names it in
  // the transport stats (Chromium, Firefox ≥ 11x); Firefox also flags the
  // pair itself ("selected"); older engines only mark it nominated and
  // succeeded — several pairs can be, so that is the last resort.
  function selectedPair(stats) {
    let id = null; let flagged = null; let nominated = null;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) id = s.selectedCandidatePairId;
      if (s.type === 'candidate-pair') {
        if (s.selected) flagged = s;
        else if (!nominated && s.nominated && s.state === 'succeeded') nominated = s;
      }
    });
    return (id && stats.get(id)) || flagged || nominated;
  }

  // --- Chat over the data channel ---
  function enableChat(on) { $('visit-chat-input').disabled = !on; $('visit-chat-send').disabled = !on; }
  function addChat(who, text) {
    const li = document.createElement('li');
    li.className = who;
    const b = document.createElement('strong');
    b.textContent = t(who) + ' ';
    li.appendChild(b);
    li.appendChild(document.createTextNode(text));
    $('visit-chat-log').appendChild(li);
  }
  $('visit-chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('visit-chat-input');
    const text = input.value.trim();
    if (!text || !chat || chat.readyState !== 'open') return;
    chat.send(text);
    addChat('chat_me', text);
    input.value = '';
  });

  // --- Controls ---
  const toggle = (btn, on, kOn, kOff) => { btn.setAttribute('aria-pressed', on ? 'true' : 'false'); btn.textContent = t(on ? kOn : kOff); };
  $('visit-mic').addEventListener('click', (ev) => {
    const tr = local.getAudioTracks()[0]; if (!tr) return;
    tr.enabled = !tr.enabled; toggle(ev.currentTarget, !tr.enabled, 'unmute', 'mute');
  });
  $('visit-cam').addEventListener('click', (ev) => {
    const tr = local.getVideoTracks()[0]; if (!tr) return;
    tr.enabled = !tr.enabled; toggle(ev.currentTarget, !tr.enabled, 'camera_on', 'camera_off');
  });
  // Phones' browsers (Safari on iOS, Firefox and Chrome on Android) have
  // no screen sharing: no button that does nothing.
  $('visit-share').hidden = !navigator.mediaDevices.getDisplayMedia;
  $('visit-share').addEventListener('click', async (ev) => {
    const btn = ev.currentTarget;
    const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === 'video');
    if (screen) {
      screen.getTracks().forEach((tr) => tr.stop()); screen = null;
      if (sender && local.getVideoTracks()[0]) await sender.replaceTrack(local.getVideoTracks()[0]);
      toggle(btn, false, 'share_stop', 'share');
      return;
    }
    if (!navigator.mediaDevices.getDisplayMedia) return;
    try { screen = await navigator.mediaDevices.getDisplayMedia({ video: true }); } catch (e) { return; }
    const tr = screen.getVideoTracks()[0];
    tr.onended = () => { if (screen) btn.click(); };
    if (sender) await sender.replaceTrack(tr);
    toggle(btn, true, 'share_stop', 'share');
  });
  $('visit-flip').addEventListener('click', async () => {
    const want = facing === 'user' ? 'environment' : 'user';
    // "exact" first: with only an "ideal" facing mode a browser may keep
    // the camera it has; "ideal" then for devices that report no facing.
    if (await switchCamera([{ facingMode: { exact: want } }, { facingMode: { ideal: want } }])) facing = want;
    await listDevices();
  });
  $('visit-camera-select').addEventListener('change', (ev) => { useDevice('video', ev.target.value).catch((e) => console.warn(e)); });
  $('visit-mic-select').addEventListener('change', (ev) => { useDevice('audio', ev.target.value).catch((e) => console.warn(e)); });
  $('visit-admit').addEventListener('click', () => { send({ type: 'admit' }); $('visit-admit').hidden = true; });
  $('visit-hangup').addEventListener('click', () => {
    send({ type: 'leave' });
    finish('hung_up');
    const rejoin = $('visit-rejoin');
    rejoin.href = location.pathname; rejoin.hidden = false;
    $('visit-hangup').hidden = true;
  });

  // Leaving the page (reload, another page, closing the tab) ends the
  // socket cleanly: the server frees the seat at once, and Firefox does not
  // log the socket as "interrupted while the page was loading". A page
  // brought back from the back-forward cache starts afresh.
  window.addEventListener('pagehide', () => {
    ended = true;
    if (ws) ws.close(1000);
    if (pc) pc.close();
  });
  window.addEventListener('pageshow', (ev) => { if (ev.persisted) location.reload(); });

  say('connecting');
  startMedia().then(() => connect(false));

  // --- The pre-visit check: camera and microphone preview, then the path
  // to the relay over each transport, against the server's own peer ---
  async function check() {
    const out = $('check-result');
    try {
      const s = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      $('check-video').srcObject = s;
      const AC = window.AudioContext || window.webkitAudioContext;
      if (AC && s.getAudioTracks().length) {
        const ac = new AC();
        // Browsers start an AudioContext made without a click suspended
        // (Firefox, Safari, and Chromium on a first visit): the meter would
        // stay at zero and the person think the microphone is broken. Ask
        // for the click that starts it. (Polled: Firefox does not always
        // fire statechange when it keeps a context suspended.)
        const tap = $('check-level-tap');
        ac.resume().catch(() => {});
        onGesture(() => { ac.resume().catch(() => {}); });
        const an = ac.createAnalyser();
        ac.createMediaStreamSource(s).connect(an);
        const buf = new Float32Array(an.fftSize);
        setInterval(() => {
          tap.hidden = ac.state === 'running';
          an.getFloatTimeDomainData(buf);
          let peak = 0; for (const v of buf) peak = Math.max(peak, Math.abs(v));
          $('check-level').value = Math.min(1, peak * 2);
        }, 200);
      }
      out.textContent = t('check_ok');
      out.dataset.ok = 'true';
    } catch (e) {
      out.textContent = t('check_fail');
      out.dataset.ok = 'false';
    }
    const box = $('visit-check');
    if (!box.dataset.ice) return;
    let servers = [];
    try { servers = JSON.parse(box.dataset.ice); } catch (e) { return; }
    const server = servers[0];
    let anyOK = false;
    for (const li of document.querySelectorAll('#check-paths li')) {
      const path = li.dataset.path;
      const url = server && server.urls.find((u) => (path === 'tls' ? u.startsWith('turns:') : u.startsWith('turn:') && u.endsWith('transport=' + path)));
      // A way the server does not offer (TURN over TLS needs HTTPS) is not shown.
      if (!url) { li.dataset.state = 'none'; li.hidden = true; continue; }
      let rtt = null;
      try { rtt = await pathTest(url, server, box.dataset.post); } catch (e) { rtt = null; }
      li.dataset.state = rtt === null ? 'fail' : 'ok';
      if (rtt !== null) li.dataset.rtt = String(Math.round(rtt));
      li.querySelector('span').textContent = rtt === null ? t('check_path_fail') : t('check_path_ok').replace('%r', String(Math.round(rtt)));
      anyOK = anyOK || rtt !== null;
    }
    $('check-summary').textContent = t(anyOK ? 'check_some_ok' : 'check_all_fail');
    box.dataset.done = 'true';
  }

  // pathTest opens a data channel to the server's peer through the relay
  // over one transport and returns the median round-trip time in ms.
  async function pathTest(url, server, post) {
    const pc = new RTCPeerConnection({ iceServers: [{ urls: [url], username: server.username, credential: server.credential }], iceTransportPolicy: 'relay' });
    const timeout = (ms) => new Promise((resolve, reject) => setTimeout(() => reject(new Error('timeout')), ms));
    try {
      const dc = pc.createDataChannel('check');
      const opened = new Promise((resolve) => { dc.onopen = resolve; });
      await pc.setLocalDescription(await pc.createOffer());
      await Promise.race([new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') resolve(); };
      }), timeout(6000)]);
      if (!/ typ relay/.test(pc.localDescription.sdp)) return null;
      const res = await fetch(post, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ sdp: pc.localDescription.sdp }) });
      if (!res.ok) return null;
      const answer = await res.json();
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      await Promise.race([opened, timeout(8000)]);
      const rtts = [];
      for (let i = 0; i < 5; i++) {
        const sent = performance.now();
        const back = new Promise((resolve) => { dc.onmessage = resolve; });
        dc.send('ping ' + i);
        await Promise.race([back, timeout(3000)]);
        rtts.push(performance.now() - sent);
      }
      rtts.sort((a, b) => a - b);
      return rtts[2];
    } finally {
      pc.close();
    }
  }
})();
