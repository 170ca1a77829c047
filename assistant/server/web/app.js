// The voice page: microphone -> /ws/voice as 16 kHz PCM; transcript, reply text and reply
// audio back. No dependencies: everything here is served by `assistant serve` itself.

const $ = (id) => document.getElementById(id);
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 8000;
// Microphone audio waits for the session this long at most (20 ms frames): the server takes a
// client up to 10 s ahead of real time, and older words would be answered too late anyway.
const HOLD_FRAMES = 500;

// What the page has done, for people debugging it (and for the browser tests).
const stats = (window.assistantStats = {
  connected: false,
  reconnects: 0,
  state: "offline",
  audioBytes: 0,
  micFrames: 0,
  transcripts: [],
  partials: [], // the confirmed words the partial bubble showed, one entry per message
  replies: [],
  tools: [],
});

let socket = null;
let retryMs = RETRY_MIN_MS;
let outputRate = 24000;
let picture = null; // data URI attached to the next questions
let audio = null; // AudioContext, made on the first click (browsers require a gesture)
let mic = null; // {stream, source, node}
let capture = null; // the AudioContext's capture worklet module, loading or loaded
const held = []; // microphone frames captured before the session was ready, oldest first
let starting = false; // a microphone is being opened
let talking = false; // push-to-talk held
let playHead = 0;
const playing = new Map(); // turn id -> AudioBufferSourceNodes scheduled
const silenced = new Set(); // turns interrupted: their late audio is dropped
const bubbles = new Map(); // "<connection>:user:<turn>" / "...:assistant:<turn>" -> <li>
let connection = 0; // turn ids start again with every connection
let partial = null; // <li> of what is being heard now

// ---- connection -------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const key = new URLSearchParams(location.search).get("api_key");
  const query = key ? `?api_key=${encodeURIComponent(key)}` : "";
  setConnection("Connecting…", "");
  socket = new WebSocket(`${scheme}//${location.host}/ws/voice${query}`);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) =>
    typeof event.data === "string" ? onMessage(JSON.parse(event.data)) : onAudio(event.data);
  socket.onclose = (event) => onClosed(event);
}

function onClosed(event) {
  stats.connected = false;
  stopPlayback();
  setState("offline");
  const why = event.reason || (event.code === 1006 ? "the server is gone" : `code ${event.code}`);
  const seconds = (retryMs / 1000).toFixed(1);
  setConnection(`Disconnected (${why}); reconnecting in ${seconds} s`, "bad");
  setTimeout(() => {
    stats.reconnects += 1;
    connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function onMessage(m) {
  switch (m.type) {
    case "ready":
      connection += 1;
      silenced.clear(); // the old connection's turn ids mean nothing now
      playing.clear();
      outputRate = m.output.sample_rate;
      retryMs = RETRY_MIN_MS;
      stats.connected = true;
      sendHeld();
      setConnection(mic ? "Connected · microphone on" : "Connected", "ok");
      $("picture").hidden = !m.vision;
      if (picture && m.vision) send({ type: "image", data: picture });
      break;
    case "state":
      setState(m.state);
      break;
    case "transcript":
      onTranscript(m);
      break;
    case "token":
      appendReply(m.turn_id, m.token);
      break;
    case "reply":
      finishReply(m.turn_id, m.text);
      break;
    case "interrupted":
      silence(m.turn_id);
      markCut(m.turn_id, m.heard);
      break;
    case "tool_call":
      showToolCall(m);
      break;
    case "tool_result":
      showToolResult(m);
      break;
    case "merged": // the user went on: this turn's words open the next one
      silence(m.turn_id);
      dropTurn(m.turn_id);
      break;
    case "turn":
      showTimings(m);
      break;
    case "error":
      showError(m.error);
      break;
  }
}

// ---- conversation log -------------------------------------------------------------------

function bubble(kind, turn) {
  const key = `${connection}:${kind}:${turn}`;
  if (!bubbles.has(key)) {
    const li = document.createElement("li");
    li.className = kind;
    li.innerHTML = '<span class="text"></span><span class="meta"></span>';
    $("log").append(li);
    bubbles.set(key, li);
  }
  return bubbles.get(key);
}

function scrollDown() {
  window.scrollTo({ top: document.body.scrollHeight });
}

// What is being heard: the confirmed words, then the dimmed tail that may still change. Only
// the tail is rewritten; confirmed words are appended to, so they never flicker.
function showPartial(m) {
  if (!partial) {
    partial = document.createElement("li");
    partial.className = "user partial";
    partial.innerHTML = '<span class="stable"></span><span class="unstable"></span>';
    $("log").append(partial);
  }
  const shown = partial.querySelector(".stable");
  const kept = shown.textContent;
  let stable = m.text.startsWith(m.stable || "") ? m.stable || "" : "";
  // A partial that confirms less (one made at a pause confirms nothing) keeps what is shown
  // while its text still begins with it.
  if (kept.startsWith(stable) && m.text.startsWith(kept)) stable = kept;
  if (!stable.startsWith(kept)) shown.textContent = stable; // the hypothesis began again
  else if (stable.length > kept.length) shown.append(stable.slice(kept.length));
  partial.querySelector(".unstable").textContent = m.text.slice(stable.length);
  stats.partials.push(shown.textContent);
}

function onTranscript(m) {
  if (!m.final) {
    showPartial(m);
  } else {
    if (partial) partial.remove();
    partial = null;
    showError(""); // a new turn: an earlier turn's failure (a server down) is old news
    bubble("user", m.turn_id).querySelector(".text").textContent = m.text;
    stats.transcripts.push(m.text);
  }
  scrollDown();
}

function appendReply(turn, text) {
  bubble("assistant", turn).querySelector(".text").textContent += text;
  scrollDown();
}

function finishReply(turn, text) {
  bubble("assistant", turn).querySelector(".text").textContent = text;
  stats.replies.push(text);
}

function showToolCall(m) {
  const li = document.createElement("li");
  li.className = "tool";
  li.id = `tool-${m.call_id}`;
  const args = Object.keys(m.arguments || {}).length ? ` ${JSON.stringify(m.arguments)}` : "";
  li.innerHTML = '<span class="text"></span><span class="meta"></span>';
  li.querySelector(".text").textContent = `Tool: ${m.name}${args}`;
  const reply = bubbles.get(`${connection}:assistant:${m.turn_id}`);
  if (reply) reply.before(li);
  else $("log").append(li);
  stats.tools.push({ name: m.name, arguments: m.arguments });
  scrollDown();
}

function showToolResult(m) {
  const li = document.getElementById(`tool-${m.call_id}`);
  if (!li) return;
  li.querySelector(".meta").textContent = `${m.ok ? "" : "failed: "}${m.result} (${Math.round(m.duration_ms)} ms)`;
  const call = stats.tools.find((t) => t.name === m.name && t.result === undefined);
  if (call) call.result = m.result;
}

function dropTurn(turn) {
  for (const kind of ["user", "assistant"]) {
    const key = `${connection}:${kind}:${turn}`;
    const li = bubbles.get(key);
    if (li) li.remove();
    bubbles.delete(key);
  }
}

function markCut(turn, heard) {
  const li = bubble("assistant", turn);
  li.classList.add("cut");
  li.querySelector(".meta").textContent = heard ? `interrupted after: “${heard}”` : "interrupted";
}

function showTimings(m) {
  const t = m.timings_ms || {};
  const parts = [];
  if (t.voice_to_voice != null) parts.push(`voice to voice ${Math.round(t.voice_to_voice)} ms`);
  if (t.llm_first_token != null) parts.push(`first word ${Math.round(t.llm_first_token)} ms`);
  if (t.stt != null) parts.push(`transcribed in ${Math.round(t.stt)} ms`);
  const meta = bubble("assistant", m.turn).querySelector(".meta");
  if (parts.length && !meta.textContent) meta.textContent = parts.join(" · ");
}

function setConnection(text, kind) {
  const pill = $("connection");
  pill.textContent = text;
  pill.className = `pill ${kind}`;
}

function setState(state) {
  stats.state = state;
  if (state === "listening" && partial) {
    partial.remove(); // what was heard held no question (or no wake phrase)
    partial = null;
  }
  const pill = $("state");
  pill.hidden = state === "offline";
  pill.textContent = state;
  pill.dataset.state = state;
  $("stop").disabled = !(state === "thinking" || state === "speaking");
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}

// ---- reply audio ------------------------------------------------------------------------

function ensureAudio() {
  if (!audio) audio = new AudioContext();
  if (audio.state === "suspended") audio.resume();
  return audio;
}

function onAudio(data) {
  const view = new DataView(data);
  const turn = view.getUint32(0, true);
  stats.audioBytes += data.byteLength - 8;
  if (silenced.has(turn) || !audio) return;
  const pcm = new Int16Array(data, 8);
  const buffer = audio.createBuffer(1, pcm.length, outputRate);
  const samples = buffer.getChannelData(0);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
  const source = audio.createBufferSource();
  source.buffer = buffer;
  source.connect(audio.destination);
  playHead = Math.max(playHead, audio.currentTime + 0.05);
  source.start(playHead);
  playHead += buffer.duration;
  if (!playing.has(turn)) playing.set(turn, []);
  playing.get(turn).push(source);
  source.onended = () => {
    const list = playing.get(turn) || [];
    const at = list.indexOf(source);
    if (at >= 0) list.splice(at, 1);
  };
}

function silence(turn) {
  silenced.add(turn);
  for (const source of playing.get(turn) || []) source.stop();
  playing.delete(turn);
  if (audio) playHead = audio.currentTime;
}

function stopPlayback() {
  for (const turn of [...playing.keys()]) silence(turn);
}

// ---- microphone -------------------------------------------------------------------------

async function startMic() {
  if (starting) return; // a second click while the first is still asking
  starting = true;
  try {
    await openMic();
  } finally {
    starting = false;
  }
}

async function openMic() {
  showError("");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("The microphone needs a secure page: open it as http://localhost or over https.");
    return;
  }
  const context = ensureAudio();
  let node;
  try {
    // Ready before the microphone opens: its sound flows from the moment the stream exists,
    // and loading the module only then lost the first words spoken.
    capture = capture || context.audioWorklet.addModule("/static/capture.js");
    await capture;
    node = new AudioWorkletNode(context, "capture-16k");
  } catch (error) {
    capture = null;
    showError(`The browser could not process the microphone (${error.message}).`);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (error) {
    const denied = error.name === "NotAllowedError" || error.name === "SecurityError";
    showError(
      denied
        ? "Microphone access was denied. Allow it in the browser's site settings, or type below."
        : `No microphone could be opened (${error.name}). Plug one in, or type below.`,
    );
    return;
  }
  try {
    const source = context.createMediaStreamSource(stream);
    node.port.onmessage = (event) => onMicFrame(new Int16Array(event.data));
    source.connect(node);
    node.connect(context.destination); // silent: it only keeps the worklet running
    mic = { stream, source, node };
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    showError(`The browser could not process the microphone (${error.message}).`);
    return;
  }
  stream.getAudioTracks()[0].onended = () => {
    stopMic();
    showError("The microphone went away. Plug it back in and press Start microphone.");
  };
  $("mic").textContent = "Stop microphone";
  $("mic").setAttribute("aria-pressed", "true");
  if (stats.connected) setConnection("Connected · microphone on", "ok");
}

function stopMic() {
  if (!mic) return;
  mic.stream.getTracks().forEach((track) => track.stop());
  mic.source.disconnect();
  mic.node.disconnect();
  mic = null;
  held.length = 0; // what was said before the microphone was stopped is not sent later
  $("level").value = 0;
  $("mic").textContent = "Start microphone";
  $("mic").setAttribute("aria-pressed", "false");
}

function pushToTalk() {
  return document.querySelector('input[name="mode"]:checked').value === "ptt";
}

function onMicFrame(pcm) {
  if (!mic) return; // a frame still in flight from a microphone just stopped
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i] * pcm[i];
  $("level").value = Math.min(1, (Math.sqrt(sum / pcm.length) / 32768) * 4);
  // Push to talk sends silence while the button is up: the stream stays continuous, so the
  // server's voice detector hears the end of each utterance as usual.
  held.push(pushToTalk() && !talking ? new Int16Array(pcm.length) : pcm);
  if (held.length > HOLD_FRAMES) held.shift();
  sendHeld();
}

// Frames go out in order once the session is ready (its "ready" message), never before: what
// is said while the page connects or reconnects is held, not lost.
function sendHeld() {
  if (!stats.connected || !socket || socket.readyState !== WebSocket.OPEN) return;
  while (held.length) {
    socket.send(held.shift());
    stats.micFrames += 1;
  }
}

function setTalking(down) {
  talking = down;
  $("talk").setAttribute("aria-pressed", String(down));
  $("talk").textContent = down ? "Listening… release to send" : "Hold to talk";
}

// ---- pictures ---------------------------------------------------------------------------

function attach(uri) {
  picture = uri;
  $("thumb").src = uri;
  $("attached").hidden = false;
  send({ type: "image", data: uri });
}

function forget() {
  picture = null;
  $("attached").hidden = true;
  send({ type: "image", data: null });
}

async function openCamera() {
  showError("");
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    $("preview").srcObject = stream;
    $("shoot").showModal();
  } catch (error) {
    showError(`The camera could not be opened (${error.name}). Choose a picture file instead.`);
  }
}

function closeCamera() {
  const stream = $("preview").srcObject;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  $("preview").srcObject = null;
  $("shoot").close();
}

function snapshot() {
  const video = $("preview");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  attach(canvas.toDataURL("image/jpeg", 0.9));
  closeCamera();
}

// ---- wiring -----------------------------------------------------------------------------

function wire() {
  $("mic").onclick = () => (mic ? stopMic() : startMic());
  $("stop").onclick = () => send({ type: "interrupt" });
  $("ask").onsubmit = (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    ensureAudio();
    send({ type: "text", text });
    $("text").value = "";
  };
  for (const radio of document.querySelectorAll('input[name="mode"]')) {
    radio.onchange = () => {
      $("talk").hidden = !pushToTalk();
      setTalking(false);
    };
  }
  const talk = $("talk");
  talk.onpointerdown = () => setTalking(true);
  talk.onpointerup = talk.onpointerleave = () => talking && setTalking(false);
  talk.onkeydown = (event) => {
    if ((event.key === " " || event.key === "Enter") && !event.repeat) setTalking(true);
  };
  talk.onkeyup = (event) => {
    if (event.key === " " || event.key === "Enter") setTalking(false);
  };
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement;
    if (pushToTalk() && event.code === "Space" && !typing && !event.repeat) {
      event.preventDefault();
      setTalking(true);
    }
  });
  document.addEventListener("keyup", (event) => {
    if (event.code === "Space" && talking) setTalking(false);
  });
  $("upload").onchange = () => {
    const file = $("upload").files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => attach(reader.result);
    reader.readAsDataURL(file);
    $("upload").value = "";
  };
  $("camera").onclick = openCamera;
  $("snap").onclick = snapshot;
  $("cancel-shot").onclick = closeCamera;
  $("forget").onclick = forget;
  document.addEventListener("click", () => audio && audio.state === "suspended" && audio.resume());
}

wire();
setState("offline");
connect();
