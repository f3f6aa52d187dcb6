// The control bar: microphone, camera (with their device menus), screen share, view,
// reactions, hand, record, chat and participants toggles, Leave and End for all — and what
// each button says as its state changes. On a phone the bar keeps the main ones and "More"
// (moresheet.js) offers the rest; "Switch camera" (camswitch.js) goes in the top bar.

import { h, icon, toast, choose } from "../dom.js";
import { REACTIONS } from "../../types.js";
import { createDeviceMenus } from "./devicemenu.js";
import { createRecording } from "./recording.js";
import { createMoreSheet } from "./moresheet.js";
import { createCameraSwitch } from "./camswitch.js";
import { createCaptions } from "./captions.js";
import { pollsWaitingForMe } from "./polls.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */
/** @typedef {import("../../roomstate.js").Panel} Panel */

/**
 * A control-bar button with its visible label (the label without the shortcut letter).
 * @param {string} id @param {string} label @param {HTMLElement} ic @param {() => void} onclick @param {object} [extra]
 */
function button(id, label, ic, onclick, extra = {}) {
  return h("button", { id, class: "ctl", type: "button", "aria-label": label, title: label, onclick, ...extra }, ic, h("span", { class: "ctl-label", text: label.replace(/ \(.\)$/, "") }));
}

/** Sets what a control shows and what it is called. @param {HTMLElement} btn @param {HTMLElement} ic @param {string} label @param {string} [shortcut] */
function relabel(btn, ic, label, shortcut) {
  const name = shortcut ? `${label} (${shortcut})` : label;
  btn.replaceChildren(ic, h("span", { class: "ctl-label", text: label }), ...[...btn.children].filter((c) => c.matches(".count, .badge")));
  btn.setAttribute("aria-label", name);
  btn.title = name;
}

/**
 * @param {RoomContext} ctx
 * @param {{stage: {el: HTMLElement, localVideo: HTMLVideoElement}, leave: () => void}} parts
 */
export function createControls(ctx, parts) {
  const { meeting, state } = ctx;
  const toggleMic = () => {
    const me = meeting.self;
    if (me) meeting.setState({ muted: !me.muted });
  };
  const toggleCam = () => {
    const me = meeting.self;
    if (me) meeting.setState({ camera_on: !me.camera_on });
  };
  const toggleHand = () => {
    const me = meeting.self;
    if (me) meeting.setState({ hand_raised: !me.hand_raised });
  };
  const toggleView = () => {
    state.toggleView();
    ctx.render();
  };
  const toggleShare = () => {
    const media = meeting.media;
    if (media.sharing) media.stopScreen().catch(() => toast("Could not stop sharing", "error"));
    else
      media.startScreen().then(
        () => ctx.render(),
        (/** @type {unknown} */ err) => {
          if (!(err instanceof DOMException && err.name === "NotAllowedError")) toast("Could not share your screen", "error");
        },
      );
  };
  /** @param {Panel} which */
  const togglePanel = (which) => {
    state.togglePanel(which);
    if (state.panel === "chat") for (const t of document.querySelectorAll(".toast-chat")) t.remove(); // the chat shows them now
    ctx.render();
  };

  const micBtn = button("ctl-mic", "Mute (M)", icon("mic"), toggleMic);
  const camBtn = button("ctl-cam", "Stop video (V)", icon("video"), toggleCam);
  const shareBtn = button("ctl-share", "Share screen", icon("screen"), toggleShare);
  shareBtn.hidden = !navigator.mediaDevices?.getDisplayMedia; // iOS Safari cannot share a screen
  const reactMenu = h(
    "div",
    { class: "react-menu", role: "menu", hidden: true },
    ...REACTIONS.map((e) => h("button", { type: "button", role: "menuitem", class: "react-emoji", text: e, "aria-label": `React ${e}`, onclick: () => ((reactMenu.hidden = true), meeting.send({ type: "react", emoji: e })) })),
  );
  const reactBtn = button("ctl-react", "Reactions", icon("smile"), () => (reactMenu.hidden = !reactMenu.hidden), { "aria-haspopup": "true" });
  const viewBtn = button("ctl-view", "Speaker view (G)", icon("speaker"), toggleView);
  const handBtn = button("ctl-hand", "Raise hand (H)", icon("hand"), toggleHand);
  const chatBtn = button("ctl-chat", "Chat (C)", icon("chat"), () => togglePanel("chat"));
  const badge = h("span", { class: "badge", hidden: true, "aria-label": "unread messages" });
  chatBtn.append(badge);
  // Polls (issue 21): the badge counts open polls waiting for my vote.
  const pollsBtn = button("ctl-polls", "Polls", icon("poll"), () => togglePanel("polls"));
  const pollsBadge = h("span", { class: "badge", hidden: true, "aria-label": "polls to answer" });
  pollsBtn.append(pollsBadge);
  const peopleBtn = button("ctl-people", "Participants (P)", icon("users"), () => togglePanel("people"));
  const peopleCount = h("span", { class: "count" });
  peopleBtn.append(peopleCount);
  const leaveBtn = h("button", { id: "ctl-leave", class: "btn btn-danger", type: "button", "aria-label": "Leave", onclick: () => parts.leave() }, icon("phone"), h("span", { class: "leave-label", text: "Leave" }));
  const endForAll = async () => {
    const choice = await choose({
      title: "End the meeting for everyone?",
      text: "Everyone is disconnected. To let the others carry on, leave instead: someone else becomes the host.",
      actions: [
        { label: "Leave", value: "leave" },
        { label: "End for all", value: "end", kind: "danger" },
      ],
    });
    if (choice === "end") meeting.send({ type: "end_meeting" });
    else if (choice === "leave") parts.leave();
  };
  const endBtn = h("button", { id: "ctl-end", class: "btn btn-danger-ghost", type: "button", text: "End for all", hidden: true, onclick: endForAll });
  const infoBtn = button("ctl-info", "Meeting details (I)", icon("info"), () => togglePanel("info"));

  const devices = createDeviceMenus(ctx, { localVideo: parts.stage.localVideo, beforeOpen: () => (reactMenu.hidden = true) });
  const recording = createRecording(ctx, { stage: () => parts.stage.el, button });
  const flip = createCameraSwitch(ctx, { localVideo: parts.stage.localVideo });
  const captions = createCaptions(ctx, { button });
  parts.stage.el.append(captions.region);
  // Recording on the device is not offered on a phone (see app.css), unless it is running.
  const recordHere = () => recording.button.classList.contains("rec-on") || !matchMedia("(max-width: 480px)").matches;
  const more = createMoreSheet(ctx, {
    controls: () => [viewBtn, handBtn, shareBtn, ...(recordHere() ? [recording.button] : []), captions.button, infoBtn, pollsBtn, ...el.querySelectorAll(".ctl-caret"), endBtn].map((c) => /** @type {HTMLElement} */ (c)),
    beforeOpen: () => (devices.closeAll(), (reactMenu.hidden = true)),
  });

  const el = h(
    "footer",
    { class: "controls", role: "toolbar", "aria-label": "Meeting controls" },
    h("div", { class: "controls-group" }, devices.menu("microphone", micBtn), devices.menu("camera", camBtn), shareBtn),
    h("div", { class: "controls-group" }, viewBtn, h("div", { class: "menu-wrap" }, reactBtn, reactMenu), handBtn, recording.button, captions.button, infoBtn, chatBtn, pollsBtn, peopleBtn, more.button),
    h("div", { class: "controls-group" }, endBtn, leaveBtn),
    more.sheet,
  );

  // Between a phone and a wide screen a labelled bar may not fit one row (a host's has a
  // dozen buttons at 1280 px): it turns icon-only — the names stay in the tooltips and the
  // accessible names — rather than wrap onto a second row that takes height from the stage.
  const fit = () => {
    const groups = /** @type {HTMLElement[]} */ ([...el.querySelectorAll(":scope > .controls-group")]);
    el.classList.remove("compact");
    // On a phone the groups dissolve into one row of their own (app.css): nothing to fit.
    if (groups.some((g) => getComputedStyle(g).display === "contents")) return;
    // Wrapped: a group starts below the first one's bottom (groups differ in height, centred).
    const [first] = groups;
    const wrapped = first && groups.some((g) => g.offsetTop >= first.offsetTop + first.offsetHeight);
    if (wrapped || el.scrollWidth > el.clientWidth) el.classList.add("compact");
  };
  new ResizeObserver(fit).observe(el);
  let shown = "";

  const render = () => {
    const me = meeting.self;
    recording.render();
    captions.render();
    const sharing = meeting.media.sharing;
    shareBtn.classList.toggle("on", sharing);
    // The name says the state (no aria-pressed as well: "Stop sharing, pressed" reads wrong).
    relabel(shareBtn, icon("screen"), sharing ? "Stop sharing" : "Share screen");
    const viewLabel = state.view === "gallery" ? "Speaker view" : "Gallery view";
    relabel(viewBtn, icon(state.view === "gallery" ? "speaker" : "grid"), viewLabel, "G");
    if (me) {
      relabel(micBtn, icon(me.muted ? "micOff" : "mic"), me.muted ? "Unmute" : "Mute", "M");
      micBtn.classList.toggle("off", me.muted);
      relabel(camBtn, icon(me.camera_on ? "video" : "videoOff"), me.camera_on ? "Stop video" : "Start video", "V");
      camBtn.classList.toggle("off", !me.camera_on);
      relabel(handBtn, icon("hand"), me.hand_raised ? "Lower hand" : "Raise hand", "H");
      handBtn.classList.toggle("on", me.hand_raised);
    }
    endBtn.hidden = !meeting.isHost;
    const people = meeting.participants.size;
    peopleCount.textContent = String(people);
    if (meeting.isModerator && meeting.waiting.length) peopleCount.textContent += ` · ${meeting.waiting.length} waiting`;
    badge.hidden = state.unread === 0;
    badge.textContent = String(state.unread);
    chatBtn.setAttribute("aria-pressed", String(state.panel === "chat"));
    peopleBtn.setAttribute("aria-pressed", String(state.panel === "people"));
    infoBtn.setAttribute("aria-pressed", String(state.panel === "info"));
    const toAnswer = pollsWaitingForMe(meeting);
    pollsBadge.hidden = toAnswer === 0;
    pollsBadge.textContent = String(toAnswer);
    pollsBtn.setAttribute("aria-pressed", String(state.panel === "polls"));
    // A button shown or hidden (End for all, CC, a longer name) may change what fits.
    const now = [...el.querySelectorAll(".ctl, .btn")].map((b) => (/** @type {HTMLElement} */ (b).hidden ? "-" : b.getAttribute("aria-label") ?? "")).join("|");
    if (now !== shown) {
      shown = now;
      fit();
    }
  };

  return {
    el,
    reactMenu,
    devices,
    recording,
    captions,
    more,
    flip,
    render,
    actions: { toggleMic, toggleCam, toggleView, toggleHand, togglePanel },
  };
}
