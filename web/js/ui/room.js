// The meeting room: tiles, control bar, chat and participants panels, reactions, banners,
// the waiting-room screen and the meeting-ended screen. Renders a Meeting; never signals.

import { h, mount, brand, icon, toast, initials, colorFor, avatar, formatMeetingId } from "./dom.js";
import { REACTIONS } from "../types.js";
import { REFUSALS } from "./prejoin.js";
import { listDevices } from "../peer.js";
import { playRemoteAudio, dropAudioButton } from "./audio-unlock.js";
import { tilesThatFit, paginate, tileSize } from "./layout.js";
import { LocalRecording, canRecordLocally } from "../localrec.js";
import { showRecordingCard, currentRecording } from "./recpanel.js";

/** @typedef {import("../meeting.js").Meeting} Meeting */
/** @typedef {import("../types.js").Participant} Participant */
/** @typedef {import("../peer.js").RemoteTrack} RemoteTrack */

/** Height the gallery's page arrows take (px, with the gap above them). */
const PAGER_HEIGHT = 44;

const ROLE_NAMES = { host: "Host", cohost: "Co-host", participant: "", guest: "Guest" };
const END_REASONS = /** @type {Record<string, string>} */ ({
  ended_by_host: "The host ended the meeting for everyone.",
  duration_limit: "The meeting reached its time limit.",
  empty: "Everyone left.",
  cancelled: "The host cancelled the meeting.",
});

/**
 * @param {Meeting} meeting
 * @param {{stream: MediaStream | null, muted: boolean, cameraOff: boolean, onExit: () => void, api: import("../api.js").Api}} local
 */
export function showRoom(meeting, local) {
  /** @type {"chat" | "people" | null} */
  let panel = null;
  let unread = 0;
  /** @type {string | null} */
  let chatTo = null;
  let ended = false;
  /** @type {string | null} whose action menu is open in the participants panel */
  let openMenu = null;
  /** @type {"gallery" | "speaker"} */
  let view = "gallery";
  /** The gallery page shown (0-based). */
  let galleryPage = 0;
  /** @type {string | null} who speaker view shows large */
  let focusPid = null;

  const title = h("span", { class: "room-title", text: meeting.title || "Joining…" });
  const clock = h("span", { class: "room-clock", "aria-label": "Time left" });
  const lock = h("span", { class: "pill", hidden: true }, icon("lock"), "Locked");
  const rec = h("span", { class: "pill pill-rec", hidden: true, role: "status", "aria-label": "This meeting is being recorded" }, h("span", { class: "rec-dot", "aria-hidden": "true" }), "REC");
  /** Who records on their own device (everyone sees it, as with the server's REC). */
  const localRec = h("span", { class: "pill pill-localrec", id: "localrec-pill", hidden: true, role: "status" });
  const banner = h("div", { class: "room-banner", role: "status", hidden: true });
  const grid = h("div", { class: "grid", "aria-label": "Participants' videos" });
  const side = h("aside", { class: "side", hidden: true });
  const screenStage = h("div", { class: "screen-stage", id: "screen-stage", hidden: true });
  const speakerStage = h("div", { class: "speaker-stage", id: "speaker-stage", hidden: true });
  const pageLabel = h("span", { class: "pager-label" });
  const pager = h(
    "nav",
    { class: "pager", "aria-label": "Gallery pages", hidden: true },
    h("button", { type: "button", class: "pager-btn", id: "page-prev", "aria-label": "Previous page", text: "‹", onclick: () => turnPage(-1) }),
    pageLabel,
    h("button", { type: "button", class: "pager-btn", id: "page-next", "aria-label": "Next page", text: "›", onclick: () => turnPage(1) }),
  );
  const stage = h("div", { class: "stage" }, screenStage, speakerStage, grid, pager, h("div", { class: "reactions", "aria-hidden": "true" }));
  const localVideo = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, muted: true, playsinline: true, class: "tile-video mirror" }));
  localVideo.srcObject = local.stream;
  /** Remote videos by track_id; elements live as long as the track so re-renders never restart them. @type {Map<string, {el: HTMLVideoElement, info: RemoteTrack}>} */
  const remoteVideos = new Map();
  /** One hidden audio element per remote audio track. */
  const audios = h("div", { class: "remote-audio", hidden: true });
  /** @type {HTMLVideoElement | null} my own screen share, shown on the stage */
  let localScreen = null;

  // --- controls ---
  const button = (/** @type {string} */ id, /** @type {string} */ label, /** @type {HTMLElement} */ ic, /** @type {() => void} */ onclick, extra = {}) =>
    h("button", { id, class: "ctl", type: "button", "aria-label": label, title: label, onclick, ...extra }, ic, h("span", { class: "ctl-label", text: label.replace(/ \(.\)$/, "") }));
  const micBtn = button("ctl-mic", "Mute (M)", icon("mic"), () => toggleMic());
  const camBtn = button("ctl-cam", "Stop video (V)", icon("video"), () => toggleCam());
  const shareBtn = button("ctl-share", "Share screen", icon("screen"), () => toggleShare());
  shareBtn.hidden = !navigator.mediaDevices?.getDisplayMedia; // iOS Safari cannot share a screen
  const reactBtn = button("ctl-react", "Reactions", icon("smile"), () => (reactMenu.hidden = !reactMenu.hidden), { "aria-haspopup": "true" });
  const viewBtn = button("ctl-view", "Speaker view (G)", icon("speaker"), () => toggleView());
  const handBtn = button("ctl-hand", "Raise hand (H)", icon("hand"), () => toggleHand());
  const recBtn = /** @type {HTMLButtonElement} */ (button("ctl-localrec", "Record on this device (R)", icon("record"), () => toggleLocalRec(), { hidden: true }));
  const chatBtn = button("ctl-chat", "Chat (C)", icon("chat"), () => toggle("chat"));
  const badge = h("span", { class: "badge", hidden: true, "aria-label": "unread messages" });
  chatBtn.append(badge);
  const peopleBtn = button("ctl-people", "Participants (P)", icon("users"), () => toggle("people"));
  const peopleCount = h("span", { class: "count" });
  peopleBtn.append(peopleCount);
  const leaveBtn = h("button", { id: "ctl-leave", class: "btn btn-danger", type: "button", text: "Leave", onclick: () => leave() });
  const endBtn = h("button", { id: "ctl-end", class: "btn btn-danger-ghost", type: "button", text: "End for all", hidden: true, onclick: () => confirm("End the meeting for everyone?") && meeting.send({ type: "end_meeting" }) });
  const reactMenu = h(
    "div",
    { class: "react-menu", role: "menu", hidden: true },
    ...REACTIONS.map((e) => h("button", { type: "button", role: "menuitem", class: "react-emoji", text: e, "aria-label": `React ${e}`, onclick: () => ((reactMenu.hidden = true), meeting.send({ type: "react", emoji: e })) })),
  );

  // --- device menus (the carets next to the microphone and camera buttons) ---
  /** @type {{wrap: HTMLElement, close: (focusCaret?: boolean) => void}[]} */
  const deviceMenus = [];
  /** The track I capture for a source now. @param {"microphone" | "camera"} source */
  const currentTrack = (source) => local.stream?.getTracks().find((t) => t.kind === (source === "camera" ? "video" : "audio")) ?? null;

  /**
   * A caret button and its menu of devices; choosing one switches to it.
   * @param {"microphone" | "camera"} source @param {HTMLElement} main the mute / video button
   */
  const deviceMenu = (source, main) => {
    const noun = source === "camera" ? "camera" : "microphone";
    const id = `${source}-menu`;
    const caret = h("button", { id: `ctl-${source}-devices`, class: "ctl-caret", type: "button", "aria-label": `Choose ${noun}`, title: `Choose ${noun}`, "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": id }, icon("chevronUp"));
    const menu = h("div", { id, class: "menu device-menu", role: "menu", tabindex: "-1", "aria-label": source === "camera" ? "Cameras" : "Microphones", hidden: true });
    const wrap = h("div", { class: "ctl-split" }, main, caret, menu);
    const items = () => /** @type {HTMLElement[]} */ ([...menu.querySelectorAll("[role='menuitemradio']")]);
    /** @param {boolean} [focusCaret] */
    const close = (focusCaret = false) => {
      if (menu.hidden) return;
      menu.hidden = true;
      caret.setAttribute("aria-expanded", "false");
      if (focusCaret) caret.focus();
    };
    /** @param {"first" | "last" | "checked"} focus */
    const open = async (focus) => {
      for (const m of deviceMenus) m.close();
      reactMenu.hidden = true;
      const { audio, video } = await listDevices().catch(() => ({ audio: [], video: [] }));
      const devices = source === "camera" ? video : audio;
      const current = currentTrack(source)?.getSettings().deviceId ?? "";
      menu.replaceChildren(
        h("div", { class: "menu-title", role: "presentation", text: source === "camera" ? "Camera" : "Microphone" }),
        ...(devices.length
          ? devices.map((d, i) =>
              h("button", { type: "button", role: "menuitemradio", tabindex: "-1", "aria-checked": String(d.deviceId === current), "data-device": d.deviceId, onclick: () => (close(true), switchDevice(source, d.deviceId)) }, icon("check"), h("span", { class: "menu-text", text: d.label || `${noun[0].toUpperCase()}${noun.slice(1)} ${i + 1}` })),
            )
          : [h("p", { class: "menu-empty", role: "presentation", text: `No ${noun} found` })]),
      );
      menu.hidden = false;
      caret.setAttribute("aria-expanded", "true");
      const list = items();
      const target = focus === "last" ? list[list.length - 1] : focus === "first" ? list[0] : (list.find((b) => b.getAttribute("aria-checked") === "true") ?? list[0]);
      (target ?? menu).focus();
    };
    caret.addEventListener("click", () => (menu.hidden ? open("checked") : close()));
    caret.addEventListener("keydown", (e) => {
      if (e.key === "ArrowUp" || e.key === "ArrowDown") {
        e.preventDefault();
        open(e.key === "ArrowUp" ? "last" : "first");
      }
    });
    menu.addEventListener("keydown", (e) => {
      const list = items();
      const at = list.indexOf(/** @type {HTMLElement} */ (document.activeElement));
      /** @type {Record<string, () => number>} */
      const moves = { ArrowDown: () => (at + 1) % list.length, ArrowUp: () => (at - 1 + list.length) % list.length, Home: () => 0, End: () => list.length - 1 };
      if (moves[e.key]) {
        e.preventDefault();
        if (list.length) list[moves[e.key]()].focus();
      } else if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        close(true);
      } else if (e.key === "Tab") close();
    });
    deviceMenus.push({ wrap, close });
    return wrap;
  };

  /** Closes the device menus when a click lands outside them. @param {Event} e */
  const outsideClick = (e) => {
    for (const m of deviceMenus) if (!m.wrap.contains(/** @type {Node} */ (e.target))) m.close();
  };
  document.addEventListener("pointerdown", outsideClick);

  /**
   * Captures from another microphone or camera and sends that instead (no renegotiation);
   * mute and camera-off stay as they were.
   * @param {"microphone" | "camera"} source @param {string} deviceId
   */
  const switchDevice = async (source, deviceId) => {
    const old = currentTrack(source);
    if (old && old.readyState === "live" && old.getSettings().deviceId === deviceId) return;
    const camera = source === "camera";
    try {
      const stream = await navigator.mediaDevices.getUserMedia(camera ? { video: { width: { ideal: 1280 }, height: { ideal: 720 }, deviceId: { exact: deviceId } } } : { audio: { deviceId: { exact: deviceId } } });
      const track = camera ? stream.getVideoTracks()[0] : stream.getAudioTracks()[0];
      if (!track) throw new Error("no track");
      const me = meeting.self;
      track.enabled = camera ? (me?.camera_on ?? false) : !(me?.muted ?? true);
      local.stream = new MediaStream([...(local.stream?.getTracks() ?? []).filter((t) => t.kind !== track.kind), track]);
      if (camera) localVideo.srcObject = local.stream;
      await meeting.media.replace(source, track);
      old?.stop();
      render();
    } catch {
      toast(`Could not switch to that ${camera ? "camera" : "microphone"}`, "error");
    }
  };

  const micMenu = deviceMenu("microphone", micBtn);
  const camMenu = deviceMenu("camera", camBtn);

  const toggleMic = () => {
    const me = meeting.self;
    if (me) meeting.setState({ muted: !me.muted });
  };
  const toggleCam = () => {
    const me = meeting.self;
    if (me) meeting.setState({ camera_on: !me.camera_on });
  };
  const toggleShare = () => {
    const media = meeting.media;
    if (media.sharing) media.stopScreen().catch(() => toast("Could not stop sharing", "error"));
    else
      media.startScreen().then(
        () => render(),
        (/** @type {unknown} */ err) => {
          if (!(err instanceof DOMException && err.name === "NotAllowedError")) toast("Could not share your screen", "error");
        },
      );
  };
  const toggleView = () => {
    view = view === "gallery" ? "speaker" : "gallery";
    render();
  };
  /** @param {number} by */
  const turnPage = (by) => {
    galleryPage += by;
    render();
  };
  const toggleHand = () => {
    const me = meeting.self;
    if (me) meeting.setState({ hand_raised: !me.hand_raised });
  };
  /** @param {"chat" | "people"} which */
  const toggle = (which) => {
    panel = panel === which ? null : which;
    if (panel === "chat") {
      unread = 0;
      for (const t of document.querySelectorAll(".toast-chat")) t.remove(); // the chat shows them now
    }
    render();
    if (panel === "chat") /** @type {HTMLElement | null} */ (side.querySelector("#chat-input"))?.focus();
  };
  /** My recording on this device, if one runs or uploads. */
  const myRecording = () => {
    const r = currentRecording();
    return r && r.meeting === meeting ? r : null;
  };
  /** Starts recording on this device, or stops (and uploads) the one running. */
  const toggleLocalRec = async () => {
    const running = myRecording();
    if (running?.recordingNow) {
      running.stop();
      return;
    }
    if (running?.busy) {
      toast("Your last recording is still uploading", "info");
      return;
    }
    if (!meeting.mayRecordLocally) {
      toast("The host has not allowed you to record this meeting", "error");
      return;
    }
    const rec = new LocalRecording(local.api, meeting, () => stage, () => local.stream?.getAudioTracks()[0] ?? null);
    recBtn.disabled = true;
    try {
      await rec.start();
      showRecordingCard(rec, { inMeeting: () => !ended });
      rec.addEventListener("change", () => render());
    } catch (err) {
      toast(`Could not start recording: ${err instanceof Error ? err.message : String(err)}`, "error");
    } finally {
      recBtn.disabled = false;
      render();
    }
  };
  /** Leaving, removed or ended: a recording stops there and its upload carries on. */
  const stopRecordingForExit = () => {
    const r = myRecording();
    if (r?.recordingNow) r.stop();
  };
  const leave = () => {
    stopRecordingForExit();
    meeting.leave();
    finish({ why: "left" });
  };

  // --- rendering ---
  const tile = (/** @type {Participant} */ p) => {
    const me = p.participant_id === meeting.me;
    const remote = me ? null : videoOf(p.participant_id, "camera");
    const showVideo = p.camera_on && (me ? !!local.stream?.getVideoTracks().length : !!remote);
    return h(
      "div",
      { class: `tile${p.participant_id === meeting.activeSpeaker ? " speaking" : ""}${p.reconnecting ? " dim" : ""}`, "data-pid": p.participant_id, "data-name": p.display_name },
      showVideo ? (me ? localVideo : remote) : avatarOf(p, "avatar-lg"),
      p.hand_raised ? h("span", { class: "tile-hand", role: "img", "aria-label": "Hand raised" }, icon("hand")) : null,
      p.recording_locally ? h("span", { class: "tile-rec", role: "img", "aria-label": "Recording on their device", title: "Recording on their device" }, h("span", { class: "rec-dot", "aria-hidden": "true" }), "REC") : null,
      h(
        "div",
        { class: "tile-label" },
        p.muted ? h("span", { class: "tile-muted", role: "img", "aria-label": "Muted" }, icon("micOff")) : null,
        h("span", { class: "tile-name", text: `${p.display_name}${me ? " (you)" : ""}` }),
        p.reconnecting ? h("span", { class: "pill", text: "Reconnecting…" }) : null,
      ),
    );
  };

  /**
   * A participant's photo or initials. Photo elements are kept per URL so re-renders (many a
   * second while people talk) do not reload them.
   * @type {Map<string, HTMLElement>}
   */
  const photos = new Map();
  /** @param {Participant} p @param {string} size */
  const avatarOf = (p, size) => {
    if (!p.avatar_url) return avatar(p.display_name, null, size);
    const key = `${size} ${p.avatar_url}`;
    let el = photos.get(key);
    if (!el) {
      el = avatar(p.display_name, p.avatar_url, size);
      el.addEventListener("error", () => photos.delete(key), { once: true });
      photos.set(key, el);
    }
    return el; // moves from the old tile into the new one (a participant has one tile)
  };

  /** @param {string} pid @param {"camera" | "screen"} source */
  const videoOf = (pid, source) => {
    for (const v of remoteVideos.values()) if (v.info.participant_id === pid && v.info.source === source) return v.el;
    return null;
  };

  /** @param {RemoteTrack} info */
  const addRemote = (info) => {
    if (info.kind === "audio") {
      const el = /** @type {HTMLAudioElement} */ (h("audio", { autoplay: true, "data-track": info.track_id, "data-pid": info.participant_id }));
      el.srcObject = new MediaStream([info.track]);
      audios.append(el);
      playRemoteAudio(el);
      return;
    }
    const el = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, muted: true, playsinline: true, class: info.source === "screen" ? "screen-video" : "tile-video", "data-track": info.track_id, "data-pid": info.participant_id, "data-source": info.source }));
    el.muted = true;
    el.srcObject = new MediaStream([info.track]);
    remoteVideos.set(info.track_id, { el, info });
  };

  /** @param {RemoteTrack} info */
  const removeRemote = (info) => {
    audios.querySelector(`[data-track="${info.track_id}"]`)?.remove();
    const v = remoteVideos.get(info.track_id);
    if (v) {
      v.el.srcObject = null;
      v.el.remove();
      remoteVideos.delete(info.track_id);
    }
  };

  /** Whether a video is on screen: in the page, laid out, not scrolled out of the strip. @param {HTMLElement} el */
  const onScreen = (el) => {
    if (!el.isConnected || el.clientWidth === 0) return false;
    const strip = el.closest(".grid.strip");
    if (!strip) return true;
    const a = el.getBoundingClientRect();
    const b = strip.getBoundingClientRect();
    return a.right > b.left && a.left < b.right;
  };

  /** Tells the SFU how large each remote video is shown (0×0 when hidden or on another page). */
  const reportSizes = () => {
    if (localVideo.isConnected && localVideo.paused) localVideo.play().catch(() => {});
    for (const [trackId, { el }] of remoteVideos) {
      const shown = onScreen(el);
      if (shown && el.paused) el.play().catch(() => {});
      const dpr = Math.min(window.devicePixelRatio || 1, 2);
      meeting.media.setVideoSize(trackId, shown ? el.clientWidth * dpr : 0, shown ? el.clientHeight * dpr : 0);
    }
  };
  /** A resize can change how many tiles fit on a gallery page: lay out again (once a frame). */
  let resizing = 0;
  const onResize = () => {
    if (!resizing) resizing = requestAnimationFrame(() => ((resizing = 0), render()));
  };
  addEventListener("resize", onResize);
  grid.addEventListener("scroll", reportSizes, { passive: true });

  /** The screen share on the stage: someone else's, else my own. */
  const renderStage = () => {
    let screen = null;
    let who = "";
    for (const v of remoteVideos.values()) {
      if (v.info.source === "screen" && meeting.participants.has(v.info.participant_id)) {
        screen = v.el;
        who = meeting.nameOf(v.info.participant_id);
      }
    }
    const mine = meeting.media.local.get("screen")?.track ?? null;
    if (!screen && mine) {
      if (!localScreen || /** @type {MediaStream | null} */ (localScreen.srcObject)?.getVideoTracks()[0] !== mine) {
        localScreen = /** @type {HTMLVideoElement} */ (h("video", { autoplay: true, muted: true, playsinline: true, class: "screen-video", "data-source": "my-screen" }));
        localScreen.muted = true;
        localScreen.srcObject = new MediaStream([mine]);
      }
      screen = localScreen;
      who = "You";
    }
    if (!mine) localScreen = null;
    stage.classList.toggle("presenting", !!screen);
    screenStage.hidden = !screen;
    if (screen) {
      if (screen.parentElement !== screenStage) screenStage.replaceChildren(screen, h("div", { class: "tile-label" }, icon("screen"), h("span", { text: who === "You" ? "You are presenting" : `${who} is presenting` })));
      else /** @type {HTMLElement} */ (screenStage.lastElementChild).querySelector("span:last-child")?.replaceChildren(who === "You" ? "You are presenting" : `${who} is presenting`);
    } else screenStage.replaceChildren();
    shareBtn.classList.toggle("on", meeting.media.sharing);
    shareBtn.setAttribute("aria-pressed", String(meeting.media.sharing));
    /** @type {HTMLElement} */ (shareBtn.querySelector(".ctl-label")).textContent = meeting.media.sharing ? "Stop sharing" : "Share screen";
  };

  const chatPanel = () => {
    const others = [...meeting.participants.values()].filter((p) => p.participant_id !== meeting.me);
    const to = /** @type {HTMLSelectElement} */ (
      h("select", { id: "chat-to", "aria-label": "Send to" }, h("option", { value: "", text: "Everyone" }), ...others.map((p) => h("option", { value: p.participant_id, text: p.display_name, selected: p.participant_id === chatTo })))
    );
    to.addEventListener("change", () => (chatTo = to.value || null));
    const text = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "chat-input", rows: 2, placeholder: "Message…", "aria-label": "Message", maxlength: 4000 }));
    const send = () => {
      const t = text.value.trim();
      if (!t) return;
      meeting.sendChat(t, to.value || null);
      text.value = "";
    };
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        send();
      }
    });
    const list = h("ol", { class: "chat-list", "aria-live": "polite" }, ...meeting.chat.map((m) => chatLine(m)));
    queueMicrotask(() => (list.scrollTop = list.scrollHeight));
    return [
      h("div", { class: "side-head" }, h("h2", { text: "Chat" }), closeBtn()),
      list.childElementCount ? list : h("div", { class: "chat-list empty" }, h("p", { class: "muted", text: "No messages yet. Say hello!" })),
      h("div", { class: "chat-compose" }, h("div", { class: "row" }, h("label", { for: "chat-to", class: "small muted", text: "To" }), to), h("div", { class: "row" }, text, h("button", { class: "btn btn-primary btn-icon", type: "button", "aria-label": "Send", onclick: send }, icon("send")))),
    ];
  };

  const chatLine = (/** @type {import("../types.js").ChatMessage} */ m) => {
    const mine = m.from === meeting.me;
    const privateTo = m.to ? (m.to === meeting.me ? "to you" : `to ${meeting.nameOf(m.to)}`) : "";
    const body = h("p", { class: "chat-text" });
    for (const part of m.text.split(/(https?:\/\/[^\s<]+)/g)) {
      body.append(/^https?:\/\//.test(part) ? h("a", { href: part, target: "_blank", rel: "noopener noreferrer", text: part }) : part);
    }
    if (m.file) body.append(h("a", { href: m.file.url, download: m.file.name, text: `📎 ${m.file.name}` }));
    return h(
      "li",
      { class: `chat-msg${mine ? " mine" : ""}${m.to ? " private" : ""}` },
      h("div", { class: "chat-meta" }, h("strong", { text: mine ? "You" : m.from_name }), privateTo ? h("span", { class: "pill pill-private", text: `Private ${privateTo}` }) : null, h("time", { text: new Date(m.sent_at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) })),
      body,
    );
  };

  const closeBtn = () => h("button", { class: "btn btn-icon btn-ghost", type: "button", "aria-label": "Close panel", onclick: () => ((panel = null), render()) }, icon("x"));

  const peoplePanel = () => {
    const mod = meeting.isModerator;
    const items = [...meeting.participants.values()].sort((a, b) => rank(a) - rank(b) || a.display_name.localeCompare(b.display_name));
    const waiting = mod && meeting.waiting.length > 0
      ? h(
          "section",
          { class: "waiting-list", "aria-label": "Waiting room" },
          h("div", { class: "row spread" }, h("h3", { text: `Waiting (${meeting.waiting.length})` }), h("button", { class: "btn btn-small", text: "Admit all", onclick: () => meeting.send({ type: "admit_all" }) })),
          ...meeting.waiting.map((w) =>
            h("div", { class: "person", "data-waiting": w.display_name }, h("span", { class: "avatar avatar-sm", style: `background:${colorFor(w.display_name)}`, text: initials(w.display_name) }), h("span", { class: "person-name", text: w.display_name }), h("button", { class: "btn btn-small btn-primary", text: "Admit", onclick: () => meeting.send({ type: "admit", participant_id: w.participant_id }) }), h("button", { class: "btn btn-small", text: "Deny", onclick: () => meeting.send({ type: "deny", participant_id: w.participant_id }) })),
          ),
        )
      : null;
    const locked = meeting.info?.locked ?? false;
    const recording = meeting.info?.recording ?? false;
    return [
      h("div", { class: "side-head" }, h("h2", { text: `Participants (${meeting.participants.size})` }), closeBtn()),
      waiting,
      mod ? h("div", { class: "row host-tools" }, h("button", { class: "btn btn-small", text: "Mute all", onclick: () => meeting.send({ type: "mute_all" }) }), h("button", { class: "btn btn-small", text: locked ? "Unlock meeting" : "Lock meeting", onclick: () => meeting.send({ type: "lock", locked: !locked }) }), h("button", { class: "btn btn-small", text: recording ? "Stop recording" : "Record", onclick: () => meeting.send({ type: "record", recording: !recording }) })) : null,
      h("ul", { class: "people" }, ...items.map((p) => h("li", {}, person(p, mod)))),
    ];
  };

  const person = (/** @type {Participant} */ p, /** @type {boolean} */ mod) => {
    const me = p.participant_id === meeting.me;
    const role = ROLE_NAMES[p.role];
    const menu = mod && !me && p.role !== "host" ? personMenu(p) : null;
    return h(
      "div",
      { class: "person", "data-pid": p.participant_id },
      avatarOf(p, "avatar-sm"),
      h("span", { class: "person-name" }, `${p.display_name}${me ? " (you)" : ""}`, role ? h("small", { class: "muted", text: ` · ${role}` }) : null),
      h("span", { class: "person-state" }, p.recording_locally ? h("span", { class: "person-rec", role: "img", "aria-label": "Recording on their device", title: "Recording on their device" }, icon("record")) : null, p.hand_raised ? h("span", { class: "person-hand", role: "img", "aria-label": "Hand raised" }, icon("hand")) : null, p.reconnecting ? h("span", { class: "pill", text: "Reconnecting" }) : null, icon(p.muted ? "micOff" : "mic"), icon(p.camera_on ? "video" : "videoOff")),
      menu,
    );
  };

  const personMenu = (/** @type {Participant} */ p) => {
    const pid = p.participant_id;
    /** @type {[string, () => void][]} */
    const actions = [
      p.muted ? ["Ask to unmute", () => meeting.send({ type: "ask_unmute", participant_id: pid })] : ["Mute", () => meeting.send({ type: "mute", participant_id: pid })],
    ];
    if (p.camera_on) actions.push(["Stop video", () => meeting.send({ type: "stop_video", participant_id: pid })]);
    if (p.hand_raised) actions.push(["Lower hand", () => meeting.send({ type: "lower_hand", participant_id: pid })]);
    if (p.user_id && p.role === "participant") {
      actions.push(p.local_recording_allowed ? ["Stop allowing to record", () => meeting.send({ type: "allow_local_recording", participant_id: pid, allowed: false })] : ["Allow to record", () => meeting.send({ type: "allow_local_recording", participant_id: pid, allowed: true })]);
    }
    if (p.role !== "guest") {
      actions.push(p.role === "cohost" ? ["Remove co-host", () => meeting.send({ type: "set_role", participant_id: pid, role: "participant" })] : ["Make co-host", () => meeting.send({ type: "set_role", participant_id: pid, role: "cohost" })]);
      if (meeting.isHost) actions.push(["Make host", () => confirm(`Make ${p.display_name} the host?`) && meeting.send({ type: "transfer_host", participant_id: pid })]);
    }
    actions.push(["Remove", () => confirm(`Remove ${p.display_name}? They cannot rejoin.`) && meeting.send({ type: "remove", participant_id: pid })]);
    const list = h("div", { class: "menu", role: "menu", hidden: openMenu !== pid }, ...actions.map(([label, act]) => h("button", { type: "button", role: "menuitem", text: label, onclick: () => ((openMenu = null), (list.hidden = true), act()) })));
    const open = h("button", { class: "btn btn-icon btn-ghost", type: "button", "aria-label": `Actions for ${p.display_name}`, "aria-haspopup": "menu", "aria-expanded": String(openMenu === pid), onclick: () => ((openMenu = openMenu === pid ? null : pid), render()) }, icon("more"));
    return h("div", { class: "menu-wrap" }, open, list);
  };

  /** Who speaker view shows large: the last other person who spoke, else someone else, else me. @param {Participant[]} people */
  const focusOf = (people) => {
    const active = meeting.activeSpeaker;
    if (active && active !== meeting.me && meeting.participants.has(active)) focusPid = active;
    if (!focusPid || !meeting.participants.has(focusPid) || (focusPid === meeting.me && people.length > 1)) {
      focusPid = people.find((p) => p.participant_id !== meeting.me)?.participant_id ?? meeting.me;
    }
    return meeting.participants.get(focusPid) ?? people[0];
  };

  /**
   * Places the tiles: a strip under a screen share; in speaker view one large tile over a strip
   * of the others; else the gallery, paged when more tiles than fit (tiles on other pages are
   * not in the page, so their videos report 0×0).
   * @param {Participant[]} people
   */
  const layout = (people) => {
    const presenting = stage.classList.contains("presenting");
    const speaker = !presenting && view === "speaker" && people.length > 0;
    stage.classList.toggle("speaker", speaker);
    let shown = people;
    let pages = 1;
    for (const prop of ["--cols", "--tile-w", "--tile-h"]) grid.style.removeProperty(prop);
    if (speaker) {
      const focus = focusOf(people);
      const big = tile(focus);
      big.classList.add("tile-large");
      speakerStage.replaceChildren(big);
      shown = people.filter((p) => p !== focus);
    } else speakerStage.replaceChildren();
    speakerStage.hidden = !speaker;
    if (presenting || speaker) grid.className = "grid strip";
    else {
      const width = stage.clientWidth;
      const height = stage.clientHeight;
      let perPage = width > 0 && height > 0 ? tilesThatFit(width, height) : people.length;
      if (people.length > perPage) perPage = tilesThatFit(width, height - PAGER_HEIGHT);
      const at = paginate(people.length, perPage, galleryPage);
      galleryPage = at.page;
      pages = at.pages;
      shown = people.slice(at.start, at.end);
      pageLabel.replaceChildren(h("span", { class: "visually-hidden", text: "Page " }), `${at.page + 1}/${at.pages}`);
      /** @type {HTMLButtonElement} */ (pager.firstElementChild).disabled = at.page === 0;
      /** @type {HTMLButtonElement} */ (pager.lastElementChild).disabled = at.page === at.pages - 1;
      // Tiles as large as fit at the camera's shape (squarer on a portrait phone), centred.
      const size = tileSize(shown.length, width, height - (pages > 1 ? PAGER_HEIGHT : 0), width < height ? 4 / 3 : 16 / 9);
      grid.className = "grid gallery";
      if (width > 0 && height > 0) {
        grid.style.setProperty("--cols", String(size.cols));
        grid.style.setProperty("--tile-w", `${size.width}px`);
        grid.style.setProperty("--tile-h", `${size.height}px`);
      }
    }
    pager.hidden = pages < 2;
    grid.hidden = shown.length === 0;
    grid.replaceChildren(...shown.map(tile));
    const label = view === "gallery" ? "Speaker view" : "Gallery view";
    viewBtn.replaceChildren(icon(view === "gallery" ? "speaker" : "grid"), h("span", { class: "ctl-label", text: label }));
    viewBtn.setAttribute("aria-label", `${label} (G)`);
    viewBtn.title = `${label} (G)`;
  };

  const people0 = () => [...meeting.participants.values()];
  /** The "… recording" pill, my Record button, and what a withdrawn permission stops. @param {Participant[]} people */
  const renderLocalRec = (people) => {
    const recorders = people.filter((p) => p.recording_locally);
    const mine = myRecording();
    const names = recorders.map((p) => (p.participant_id === meeting.me ? "You" : p.display_name));
    localRec.hidden = recorders.length === 0;
    localRec.replaceChildren(h("span", { class: "rec-dot", "aria-hidden": "true" }), recorders.length > 2 ? `${recorders.length} people are recording` : `${names.join(" and ")} ${recorders.length === 1 && names[0] !== "You" ? "is" : "are"} recording`);
    localRec.setAttribute("aria-label", `Recording on their device: ${names.join(", ")}`);
    localRec.title = "Recording the meeting on their own device";
    const may = meeting.mayRecordLocally && canRecordLocally();
    const recording = !!mine?.recordingNow;
    if (recording && !meeting.mayRecordLocally) {
      mine?.stop(); // the host withdrew the permission: keep what was recorded, upload it
      toast("Recording stopped: the host no longer allows it. What you recorded is being uploaded.", "warning", { ms: 8000 });
    }
    recBtn.hidden = !may && !recording;
    recBtn.classList.toggle("rec-on", recording);
    recBtn.setAttribute("aria-pressed", String(recording));
    // "on device": the host's Record in the participants panel records on the server.
    const label = recording ? "Stop recording" : "Record on device";
    recBtn.replaceChildren(icon(recording ? "stop" : "record"), h("span", { class: "ctl-label", text: label }));
    recBtn.setAttribute("aria-label", recording ? "Stop recording on this device (R)" : "Record on this device (R)");
    recBtn.title = recBtn.getAttribute("aria-label") ?? "";
  };

  const render = () => {
    if (ended) return;
    const me = meeting.self;
    title.textContent = meeting.title;
    lock.hidden = !meeting.info?.locked;
    rec.hidden = !meeting.info?.recording;
    renderLocalRec(people0());
    const people = [...meeting.participants.values()];
    side.hidden = panel === null; // before the layout: the panel takes width from the stage
    renderStage();
    layout(people);
    requestAnimationFrame(reportSizes);
    if (me) {
      for (const t of local.stream?.getAudioTracks() ?? []) t.enabled = !me.muted;
      for (const t of local.stream?.getVideoTracks() ?? []) t.enabled = me.camera_on;
      micBtn.replaceChildren(icon(me.muted ? "micOff" : "mic"), h("span", { class: "ctl-label", text: me.muted ? "Unmute" : "Mute" }));
      micBtn.classList.toggle("off", me.muted);
      micBtn.setAttribute("aria-label", me.muted ? "Unmute (M)" : "Mute (M)");
      camBtn.replaceChildren(icon(me.camera_on ? "video" : "videoOff"), h("span", { class: "ctl-label", text: me.camera_on ? "Stop video" : "Start video" }));
      camBtn.classList.toggle("off", !me.camera_on);
      camBtn.setAttribute("aria-label", me.camera_on ? "Stop video (V)" : "Start video (V)");
      handBtn.classList.toggle("on", me.hand_raised);
      handBtn.setAttribute("aria-pressed", String(me.hand_raised));
    }
    endBtn.hidden = !meeting.isHost;
    peopleCount.textContent = String(people.length);
    if (meeting.isModerator && meeting.waiting.length) peopleCount.textContent += ` · ${meeting.waiting.length} waiting`;
    badge.hidden = unread === 0;
    badge.textContent = String(unread);
    chatBtn.setAttribute("aria-pressed", String(panel === "chat"));
    peopleBtn.setAttribute("aria-pressed", String(panel === "people"));
    if (panel === "chat") {
      const draft = /** @type {HTMLTextAreaElement | null} */ (side.querySelector("#chat-input"));
      const keep = draft?.value ?? "";
      const focused = document.activeElement === draft;
      side.replaceChildren(...chatPanel());
      const fresh = /** @type {HTMLTextAreaElement} */ (side.querySelector("#chat-input"));
      fresh.value = keep;
      if (focused) fresh.focus();
    } else if (panel === "people") side.replaceChildren(...peoplePanel().filter((n) => n !== null));
  };

  let timeLeft = meeting.info?.time_left_seconds ?? 0;
  const tick = setInterval(() => {
    if (!meeting.info) return;
    timeLeft = Math.max(0, timeLeft - 1);
    const m = Math.floor(timeLeft / 60);
    clock.textContent = `${Math.floor(m / 60) ? `${Math.floor(m / 60)}:` : ""}${String(m % 60).padStart(2, "0")}:${String(timeLeft % 60).padStart(2, "0")} left`;
  }, 1000);

  /** @param {KeyboardEvent} e */
  const keys = (e) => {
    const target = /** @type {HTMLElement} */ (e.target);
    if (e.key === "Escape" && deviceMenus.some((m) => !m.wrap.querySelector("[role='menu']")?.hasAttribute("hidden"))) {
      for (const m of deviceMenus) m.close();
      return;
    }
    if (e.key === "Escape" && (panel || !reactMenu.hidden)) {
      panel = null;
      reactMenu.hidden = true;
      render();
      /** @type {HTMLElement | null} */ (document.activeElement)?.blur?.();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey || target.closest("input, textarea, select, [contenteditable], [role='menu']")) return;
    const k = e.key.toLowerCase();
    /** @type {Record<string, () => void>} */
    const map = { m: toggleMic, v: toggleCam, g: toggleView, h: toggleHand, c: () => toggle("chat"), p: () => toggle("people"), r: () => (meeting.mayRecordLocally || myRecording()?.recordingNow ? toggleLocalRec() : undefined), "?": help };
    if (k === "escape") {
      panel = null;
      reactMenu.hidden = true;
      render();
    } else if (map[k]) {
      e.preventDefault();
      map[k]();
    }
  };
  document.addEventListener("keydown", keys);

  // --- meeting events ---
  meeting.addEventListener("welcome", (e) => {
    timeLeft = meeting.info?.time_left_seconds ?? 0;
    mountRoom();
    const resumed = /** @type {CustomEvent} */ (e).detail?.resumed;
    if (!resumed) meeting.setState({ muted: local.muted, camera_on: !local.cameraOff && !!local.stream?.getVideoTracks().length });
    // A reload ended the recording the server still shows: say so.
    else if (meeting.self?.recording_locally && !myRecording()?.recordingNow) meeting.setState({ recording_locally: false });
    // After a reload that resumed the seat, the server still holds the old page's connections.
    meeting.media.publish(local.stream, !!resumed).catch(() => {});
  });
  meeting.addEventListener("waiting", () => {
    mount(
      h("header", { class: "topbar topbar-plain" }, brand()),
      h("main", { class: "page center", id: "main" }, h("section", { class: "card waiting", id: "waiting-room" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("h1", { text: "Please wait, the host will let you in soon" }), h("p", { class: "muted", text: meeting.title }), h("button", { class: "btn", text: "Leave", onclick: leave }))),
    );
  });
  meeting.addEventListener("change", render);
  meeting.media.addEventListener("remote-track", (e) => {
    addRemote(/** @type {CustomEvent<RemoteTrack>} */ (e).detail);
    render();
  });
  meeting.media.addEventListener("remote-track-removed", (e) => {
    removeRemote(/** @type {CustomEvent<RemoteTrack>} */ (e).detail);
    render();
  });
  meeting.media.addEventListener("screen-ended", () => render());
  meeting.addEventListener("chat", (e) => {
    const m = /** @type {CustomEvent<import("../types.js").ChatMessage>} */ (e).detail;
    if (panel !== "chat" && m.from !== meeting.me) {
      unread++;
      toast(`${m.from_name}${m.to ? " (private)" : ""}: ${m.text.slice(0, 80)}`, "chat", { ms: 3500 });
    }
  });
  meeting.addEventListener("reaction", (e) => {
    const { participant_id, emoji } = /** @type {CustomEvent} */ (e).detail;
    const layer = stage.querySelector(".reactions");
    const t = stage.querySelector(`.tile[data-pid="${participant_id}"]`);
    const float = h("span", { class: "reaction", "data-from": meeting.nameOf(participant_id) }, h("span", { class: "reaction-emoji", text: emoji }), h("span", { class: "reaction-name", text: meeting.nameOf(participant_id) }));
    if (t instanceof HTMLElement) float.style.left = `${t.offsetLeft + t.offsetWidth / 2}px`;
    layer?.append(float);
    setTimeout(() => float.remove(), 4000);
  });
  meeting.addEventListener("notice", (e) => {
    const { text, kind } = /** @type {CustomEvent} */ (e).detail;
    if (kind === "ask-unmute") toast(text, "info", { action: "Unmute", onAction: () => meeting.setState({ muted: false }), ms: 10000 });
    else if (kind === "warning") {
      banner.textContent = text;
      banner.className = "room-banner banner-warning";
      banner.hidden = false;
    } else toast(text, kind);
  });
  meeting.addEventListener("reconnecting", () => {
    banner.textContent = "Connection lost. Reconnecting…";
    banner.className = "room-banner banner-error";
    banner.hidden = false;
  });
  meeting.addEventListener("reconnected", () => {
    banner.hidden = true;
    toast("Reconnected", "success", { ms: 2000 });
  });
  meeting.addEventListener("media-unavailable", () => {
    grid.dataset.media = "unavailable";
    toast("Audio and video of others arrive with the media engine; you see your own preview.", "info", { ms: 6000 });
  });
  meeting.addEventListener("ended", (e) => finish(/** @type {CustomEvent} */ (e).detail));

  /** @param {{why: string, error?: {code: string, message: string} | null, reason?: string | null}} d */
  const finish = (d) => {
    if (ended) return;
    stopRecordingForExit();
    dropAudioButton();
    ended = true;
    clearInterval(tick);
    document.removeEventListener("keydown", keys);
    document.removeEventListener("pointerdown", outsideClick);
    removeEventListener("resize", onResize);
    for (const t of local.stream?.getTracks() ?? []) t.stop();
    let heading = "You left the meeting";
    let text = "";
    if (d.why === "ended") {
      heading = "The meeting has ended";
      text = END_REASONS[d.reason ?? ""] ?? "";
    } else if (d.why === "refused" && d.error) {
      heading = d.error.code === "removed" ? "You were removed from the meeting" : "You could not join";
      text = REFUSALS[d.error.code] ?? d.error.message;
    } else if (d.why === "replaced") {
      heading = "You joined from another window";
      text = "This window has been disconnected.";
    } else if (d.why === "lost") {
      heading = "Connection lost";
      text = "We could not reconnect you in time.";
    }
    mount(
      h("header", { class: "topbar topbar-plain" }, brand()),
      h(
        "main",
        { class: "page center", id: "main" },
        h("section", { class: "card ended", id: "ended", "data-why": d.why }, h("h1", { text: heading }), text ? h("p", { class: "ended-reason muted", text }) : null, h("div", { class: "row center" }, d.why === "left" || d.why === "lost" ? h("a", { class: "btn", href: location.pathname + location.search, text: "Rejoin" }) : null, h("a", { class: "btn btn-primary", href: "/#/", text: "Back to home" }))),
      ),
    );
  };

  const help = () => {
    const rows = [["M", "Mute / unmute"], ["V", "Camera on / off"], ["G", "Gallery / speaker view"], ["H", "Raise / lower hand"], ["R", "Record on this device (when allowed)"], ["C", "Chat"], ["P", "Participants"], ["Esc", "Close panels"], ["?", "This help"]];
    const dialog = /** @type {HTMLDialogElement} */ (h("dialog", { class: "dialog", "aria-labelledby": "help-title" }, h("h2", { id: "help-title", text: "Keyboard shortcuts" }), h("dl", { class: "keys" }, ...rows.flatMap(([k, t]) => [h("dt", {}, h("kbd", { text: k })), h("dd", { text: t })])), h("div", { class: "dialog-actions" }, h("button", { class: "btn btn-primary", text: "Close", onclick: () => dialog.close() }))));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  };

  const mountRoom = () => {
    mount(
      h(
        "div",
        { class: "room", id: "room" },
        h("header", { class: "room-top" }, h("div", { class: "row" }, title, lock, rec, localRec), h("span", { class: "muted small room-id", text: `ID ${formatMeetingId(meeting.meetingId)}` }), clock),
        banner,
        h("div", { class: "room-body" }, stage, side),
        audios,
        h(
          "footer",
          { class: "controls", role: "toolbar", "aria-label": "Meeting controls" },
          h("div", { class: "controls-group" }, micMenu, camMenu, shareBtn),
          h("div", { class: "controls-group" }, viewBtn, h("div", { class: "menu-wrap" }, reactBtn, reactMenu), handBtn, recBtn, chatBtn, peopleBtn),
          h("div", { class: "controls-group" }, endBtn, leaveBtn),
        ),
      ),
    );
    render();
  };

  mount(h("main", { class: "page center", id: "main" }, h("section", { class: "card waiting" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("h1", { text: "Joining…" }))));
}

/** Host first, then co-hosts, then everyone else. @param {Participant} p */
function rank(p) {
  return { host: 0, cohost: 1, participant: 2, guest: 3 }[p.role];
}
