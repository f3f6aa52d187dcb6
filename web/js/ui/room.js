// The meeting room: puts the parts under ui/room/ together (header, stage, side panel,
// control bar, shortcuts), renders them from the Meeting and the RoomState, and turns the
// meeting's events into what the screen shows. Never signals media itself.

import { h, mount, icon, toast } from "./dom.js";
import { RoomState } from "../roomstate.js";
import { createHeader } from "./room/header.js";
import { createStage } from "./room/stage.js";
import { createControls } from "./room/controls.js";
import { chatPanel } from "./room/chat.js";
import { peoplePanel } from "./room/people.js";
import { infoPanel } from "./room/info.js";
import { pollsPanel } from "./room/polls.js";
import { listenForShortcuts } from "./room/keys.js";
import { showJoining, showWaiting, showEnded } from "./room/screens.js";
import { dropAudioButton } from "./audio-unlock.js";
import { createBreakout } from "./room/breakout.js";

/** @typedef {import("../meeting.js").Meeting} Meeting */
/** @typedef {import("./room/context.js").LocalMedia} LocalMedia */
/** @typedef {import("./room/context.js").RoomContext} RoomContext */
/** @typedef {import("../peer.js").RemoteTrack} RemoteTrack */

/** @param {Meeting} meeting @param {LocalMedia} local */
export function showRoom(meeting, local) {
  const state = new RoomState();
  state.timeLeft = meeting.info?.time_left_seconds ?? 0;
  /** @type {RoomContext} */
  const ctx = { meeting, state, local, render: () => render() };
  const stage = createStage(ctx);
  const leave = () => {
    controls.recording.stopForExit();
    meeting.leave();
    finish({ why: "left" });
  };
  const controls = createControls(ctx, { stage, leave });
  const header = createHeader(ctx, controls.recording.pill, () => controls.actions.togglePanel("info"));
  header.el.append(controls.flip.el);
  // Breakout rooms: a control beside Participants, its panel, and the banner of a room.
  const breakout = createBreakout(ctx, () => controls.actions.togglePanel("breakout"));
  controls.el.querySelector("#ctl-people")?.before(breakout.button);
  const side = h("aside", { class: "side", hidden: true });
  const closeBtn = () => h("button", { class: "btn btn-icon btn-ghost", type: "button", "aria-label": "Close panel", onclick: () => (state.closePanel(), render()) }, icon("x"));

  const renderSide = () => {
    if (state.panel === "chat") {
      const draft = /** @type {HTMLTextAreaElement | null} */ (side.querySelector("#chat-input"));
      const keep = draft?.value ?? "";
      const focused = document.activeElement === draft;
      side.replaceChildren(...chatPanel(ctx, closeBtn));
      const fresh = /** @type {HTMLTextAreaElement} */ (side.querySelector("#chat-input"));
      fresh.value = keep;
      if (focused) fresh.focus();
    } else if (state.panel === "people") side.replaceChildren(...peoplePanel(ctx, closeBtn, stage.avatarOf).filter((n) => n !== null));
    else if (state.panel === "info") side.replaceChildren(...infoPanel(ctx, closeBtn));
    else if (state.panel === "polls") keepingFocus(() => side.replaceChildren(...pollsPanel(ctx, closeBtn)));
    else if (state.panel === "breakout") keepingFocus(() => side.replaceChildren(...breakout.panel(closeBtn)));
  };

  /** Draws the panel again, leaving the focus (and the caret) where it was. @param {() => void} draw */
  const keepingFocus = (draw) => {
    const was = document.activeElement;
    const id = was && side.contains(was) ? was.id : "";
    const caret = was instanceof HTMLInputElement && was.type === "text" ? [was.selectionStart, was.selectionEnd] : null;
    draw();
    const now = id ? side.querySelector(`#${CSS.escape(id)}`) : null;
    if (!(now instanceof HTMLElement)) return;
    now.focus();
    if (caret && now instanceof HTMLInputElement) now.setSelectionRange(caret[0], caret[1]);
  };

  const render = () => {
    if (state.ended) return;
    const me = meeting.self;
    header.render();
    side.hidden = state.panel === null; // before the layout: the panel takes width from the stage
    stage.render();
    if (me) {
      for (const t of local.stream?.getAudioTracks() ?? []) t.enabled = !me.muted;
      for (const t of local.stream?.getVideoTracks() ?? []) t.enabled = me.camera_on;
      local.effects?.camera.setPaused(!me.camera_on);
    }
    controls.render();
    breakout.render();
    renderSide();
  };

  /** A resize can change how many tiles fit on a gallery page: lay out again (once a frame). */
  let resizing = 0;
  const onResize = () => {
    if (!resizing) resizing = requestAnimationFrame(() => ((resizing = 0), render()));
  };
  addEventListener("resize", onResize);

  const closePanels = () => {
    state.closePanel();
    controls.reactMenu.hidden = true;
    render();
  };
  const stopShortcuts = listenForShortcuts(
    {
      m: controls.actions.toggleMic,
      v: controls.actions.toggleCam,
      g: controls.actions.toggleView,
      h: controls.actions.toggleHand,
      c: () => openPanel("chat"),
      p: () => controls.actions.togglePanel("people"),
      i: () => controls.actions.togglePanel("info"),
      r: controls.recording.shortcut,
      "shift+c": controls.captions.toggle,
    },
    { menusOpen: controls.devices.anyOpen, closeMenus: controls.devices.closeAll, panelsOpen: () => !!state.panel || !controls.reactMenu.hidden, closePanels },
  );
  /** @param {"chat" | "people"} which */
  const openPanel = (which) => {
    controls.actions.togglePanel(which);
    if (state.panel === "chat") /** @type {HTMLElement | null} */ (side.querySelector("#chat-input"))?.focus();
  };

  // --- meeting events ---
  meeting.addEventListener("welcome", (e) => {
    state.timeLeft = meeting.info?.time_left_seconds ?? 0;
    mountRoom();
    // Now that the stage has a size: the videos already there, before their subscription.
    meeting.media.hintSizes([...meeting.media.published.values()]);
    const resumed = /** @type {CustomEvent} */ (e).detail?.resumed;
    if (!resumed) meeting.setState({ muted: local.muted, camera_on: !local.cameraOff && !!local.stream?.getVideoTracks().length });
    // A reload ended the recording the server still shows: say so.
    else if (meeting.self?.recording_locally && !controls.recording.mine()?.recordingNow) meeting.setState({ recording_locally: false });
    // After a reload that resumed the seat, the server still holds the old page's connections.
    meeting.media.publish(local.stream, !!resumed).catch(() => {});
  });
  meeting.addEventListener("waiting", () => showWaiting(meeting.title, leave));
  meeting.addEventListener("change", render);
  meeting.media.addEventListener("remote-track", (e) => {
    stage.addRemote(/** @type {CustomEvent<RemoteTrack>} */ (e).detail);
    render();
  });
  meeting.media.addEventListener("remote-track-removed", (e) => {
    stage.removeRemote(/** @type {CustomEvent<RemoteTrack>} */ (e).detail);
    render();
  });
  meeting.media.addEventListener("screen-ended", () => render());
  // Peer-to-peer for two: the direct tracks join the SFU's; the stage shows one or the other.
  meeting.p2p.addEventListener("remote-track", (e) => {
    stage.addRemote(/** @type {CustomEvent<RemoteTrack>} */ (e).detail);
    render();
  });
  meeting.p2p.addEventListener("remote-track-removed", (e) => {
    stage.removeRemote(/** @type {CustomEvent<RemoteTrack>} */ (e).detail);
    render();
  });
  meeting.p2p.addEventListener("switch", () => render());
  meeting.addEventListener("chat", (e) => {
    const m = /** @type {CustomEvent<import("../types.js").ChatMessage>} */ (e).detail;
    if (state.chatArrived(m.from === meeting.me)) toast(`${m.from_name}${m.to ? " (private)" : ""}: ${m.text.slice(0, 80)}`, "chat", { ms: 3500 });
  });
  // Polls (issue 21): a new poll, or shared results, is said unless the panel shows it.
  /** Polls whose shared results were announced already. */
  const shownResults = new Set();
  meeting.addEventListener("poll", (e) => {
    const { poll, fresh } = /** @type {CustomEvent<{poll: import("../types.js").Poll, fresh: boolean}>} */ (e).detail;
    if (state.panel === "polls" || meeting.isModerator) return;
    const open = () => state.panel !== "polls" && controls.actions.togglePanel("polls");
    if (fresh && poll.status === "open") toast(`New poll: ${poll.question.slice(0, 80)}`, "info", { action: "Vote", onAction: open, ms: 10000 });
    else if (poll.shared && poll.results && !shownResults.has(poll.poll_id)) toast(`Poll results: ${poll.question.slice(0, 80)}`, "info", { action: "See results", onAction: open, ms: 10000 });
    if (poll.shared) shownResults.add(poll.poll_id);
  });
  meeting.addEventListener("reaction", (e) => {
    const { participant_id, emoji } = /** @type {CustomEvent} */ (e).detail;
    stage.react(participant_id, emoji);
  });
  meeting.addEventListener("notice", (e) => {
    const { text, kind } = /** @type {CustomEvent} */ (e).detail;
    if (kind === "ask-unmute") toast(text, "info", { action: "Unmute", onAction: () => meeting.setState({ muted: false }), ms: 10000 });
    else if (kind === "warning") header.showBanner(text, "warning");
    else toast(text, kind);
  });
  meeting.addEventListener("reconnecting", () => header.showBanner("Connection lost. Reconnecting…", "error"));
  meeting.addEventListener("reconnected", () => {
    header.hideBanner();
    toast("Reconnected", "success", { ms: 2000 });
  });
  meeting.addEventListener("media-unavailable", () => {
    stage.grid.dataset.media = "unavailable";
    toast("Audio and video of others arrive with the media engine; you see your own preview.", "info", { ms: 6000 });
  });
  meeting.addEventListener("ended", (e) => finish(/** @type {CustomEvent} */ (e).detail));

  /** @param {{why: string, error?: {code: string, message: string} | null, reason?: string | null}} d */
  const finish = (d) => {
    if (state.ended) return;
    controls.recording.stopForExit();
    dropAudioButton();
    state.ended = true;
    header.dispose();
    stopShortcuts();
    controls.devices.dispose();
    controls.more.dispose();
    controls.flip.dispose();
    breakout.dispose();
    removeEventListener("resize", onResize);
    for (const t of local.stream?.getTracks() ?? []) t.stop();
    local.effects?.stop();
    showEnded(d);
  };

  const mountRoom = () => {
    mount(h("div", { class: "room", id: "room" }, header.el, header.banner, breakout.banner, h("div", { class: "room-body" }, stage.el, side), stage.audios, controls.el));
    render();
  };

  showJoining();
}
