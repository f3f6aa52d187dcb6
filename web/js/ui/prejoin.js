// The pre-join screen at /j/{id}: camera and microphone preview with device pickers and a
// level meter, name and passcode fields, join muted / camera off, and refusal messages. An
// end-to-end encrypted meeting says so here, with what is off, before anyone joins; a browser
// that cannot take part sees the refusal here and no Join button (docs/e2ee.md).

import { h, mount, brand, field, icon, showError, formatMeetingId } from "./dom.js";
import { openDevices, listDevices, levelMeter } from "../peer.js";
import { loadPrefs, savePrefs, pick } from "../prefs.js";
import { backgroundPicker } from "../effects/picker.js";
import { chooseImage, saveGuestDefault } from "../effects/backdrops.js";
import { E2EE_OFF } from "./room/e2ee.js";

/** Human words for every refusal a join can meet (POST /join and the socket). */
export const REFUSALS = /** @type {Record<string, string>} */ ({
  wrong_passcode: "That passcode is not right. Check the invite and try again.",
  passcode_required: "This meeting needs a passcode.",
  meeting_full: "This meeting is full. Ask the host to make room.",
  meeting_locked: "The host has locked this meeting: no one new can join.",
  meeting_ended: "This meeting has ended.",
  meeting_cancelled: "This meeting was cancelled by its host.",
  meeting_not_started: "The host has not started this meeting yet. Try again in a moment.",
  removed: "A host removed you from this meeting. You cannot rejoin it.",
  denied: "The host did not let you in.",
  guests_not_allowed: "This meeting is for signed-in users only. Sign in to join.",
  meeting_not_found: "There is no meeting with that ID.",
  display_name_required: "Please enter your name.",
  rate_limited: "Too many attempts. Wait a minute and try again.",
  ticket_expired: "Your join took too long. Please join again.",
  resume_expired: "Your connection was lost for too long. Please join again.",
  e2ee_unsupported: "This meeting is end-to-end encrypted, and this browser cannot take part in it. Join from a browser that supports it (Chrome or Edge 86+, Firefox 117+, Safari 15.4+).",
});

/**
 * The pre-join notice of an end-to-end encrypted meeting: the lock, what is off, and for a
 * browser that cannot take part, the refusal.
 * @param {boolean} supported whether this browser can take part
 */
export function e2eeNotice(supported) {
  return h(
    "section",
    { class: "e2ee-details prejoin-e2ee", id: "pj-e2ee", "aria-label": "End-to-end encryption" },
    h("h3", {}, icon("lock"), " End-to-end encrypted"),
    // The refusal first: for this browser it is the one thing that matters.
    supported ? null : h("p", { class: "form-error", id: "pj-e2ee-refusal", role: "alert", text: REFUSALS.e2ee_unsupported }),
    h("p", { class: "small", text: "Audio, video and screen shares are encrypted on each device with keys the server never has." }),
    h("ul", { class: "small e2ee-off" }, ...E2EE_OFF.map((t) => h("li", { text: t }))),
  );
}

/**
 * @typedef {object} JoinChoice
 * @property {string} passcode
 * @property {string} displayName
 * @property {boolean} muted
 * @property {boolean} cameraOff
 * @property {MediaStream | null} stream
 * @property {import("../effects/index.js").Effects} [effects] what the stream goes through
 * @property {boolean} [e2ee] whether the meeting is end-to-end encrypted, as its preview said
 *   for this passcode (undefined: not known)
 */

/**
 * Who is in the meeting, in words. @param {import("../types.js").MeetingPreview} p
 */
export function whoIsHere(p) {
  const n = p.present_count;
  if (n === 0) return "No one else is here yet";
  if (p.present.length === 0) return n === 1 ? "1 person is in this meeting" : `${n} people are in this meeting`;
  const names = p.present.slice(0, n > 3 ? 2 : 3);
  const rest = n - names.length;
  const list = rest > 0 ? `${names.join(", ")} and ${rest} ${rest === 1 ? "other" : "others"}` : names.length > 1 ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}` : names[0];
  return `${list} ${n === 1 ? "is" : "are"} in this meeting`;
}

/**
 * @param {{meetingId: string, passcode: string, name: string, signedIn: boolean, error?: string, preview?: (passcode: string) => Promise<import("../types.js").MeetingPreview>, effects?: import("../effects/index.js").Effects, effect?: import("../effects/camera.js").Effect}} ctx
 * @param {(choice: JoinChoice) => Promise<void>} join rejects with an Error carrying `code`
 */
export async function showPrejoin(ctx, join) {
  /** @type {MediaStream | null} */
  let stream = null;
  let meter = { stop() {} };
  const prefs = loadPrefs(localStorage);
  let muted = prefs.joinMuted;
  let cameraOff = prefs.joinCameraOff;
  /** Before the first open, the preferred devices (if still present); then the pickers. */
  let first = true;
  const video = /** @type {HTMLVideoElement} */ (h("video", { class: "preview-video", autoplay: true, muted: true, playsinline: true }));
  const noCam = h("div", { class: "preview-off", text: "Camera is off" });
  const level = h("div", { class: "level", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, h("span", { class: "level-bar" }));
  const micBtn = h("button", { class: "round", type: "button", "aria-pressed": "false", "aria-label": "Join muted", title: "Microphone (M)" }, icon("mic"));
  const camBtn = h("button", { class: "round", type: "button", "aria-pressed": "false", "aria-label": "Join with camera off", title: "Camera (V)" }, icon("video"));
  const micSel = /** @type {HTMLSelectElement} */ (h("select", { id: "pj-mic" }));
  const camSel = /** @type {HTMLSelectElement} */ (h("select", { id: "pj-cam" }));

  const paint = () => {
    micBtn.setAttribute("aria-pressed", String(muted));
    micBtn.classList.toggle("off", muted);
    micBtn.replaceChildren(icon(muted ? "micOff" : "mic"));
    camBtn.setAttribute("aria-pressed", String(cameraOff));
    camBtn.classList.toggle("off", cameraOff);
    camBtn.replaceChildren(icon(cameraOff ? "videoOff" : "video"));
    const hasVideo = !!stream?.getVideoTracks().length && !cameraOff;
    noCam.hidden = hasVideo;
    video.hidden = !hasVideo;
    for (const t of stream?.getAudioTracks() ?? []) t.enabled = !muted;
    for (const t of stream?.getVideoTracks() ?? []) t.enabled = !cameraOff;
  };
  /** An image picked here is the image next time; a guest's pick is their default (no account). @param {import("../effects/camera.js").Effect} e */
  const rememberBackground = (e) => {
    if (e.kind === "image" && e.image) chooseImage(localStorage, e.image);
    if (!ctx.signedIn) saveGuestDefault(localStorage, e.kind);
  };
  const open = async () => {
    meter.stop();
    // With effects the tracks sent stay for the session; the effects stop the old devices.
    if (!ctx.effects) for (const t of stream?.getTracks() ?? []) t.stop();
    let audioDevice = micSel.value || undefined;
    let videoDevice = camSel.value || undefined;
    if (first) {
      first = false;
      const known = await listDevices();
      audioDevice = pick(prefs.mic, known.audio);
      videoDevice = pick(prefs.camera, known.video);
    }
    const captured = await openDevices({ audioDevice, videoDevice });
    stream = ctx.effects ? await ctx.effects.wrap(captured) : captured;
    video.srcObject = stream;
    if (stream) {
      meter = levelMeter(stream, (v) => {
        /** @type {HTMLElement} */ (level.firstElementChild).style.width = `${Math.round(v * 100)}%`;
        level.setAttribute("aria-valuenow", String(Math.round(v * 100)));
      });
    } else {
      noCam.textContent = "No camera or microphone available";
    }
    const devices = await listDevices();
    fill(micSel, devices.audio, captured?.getAudioTracks()[0]?.getSettings().deviceId);
    fill(camSel, devices.video, captured?.getVideoTracks()[0]?.getSettings().deviceId);
    paint();
  };
  micBtn.addEventListener("click", () => ((muted = !muted), paint()));
  camBtn.addEventListener("click", () => ((cameraOff = !cameraOff), paint()));
  /** The devices being opened; joining waits for them so media is not lost to a quick click. */
  let opening = Promise.resolve();
  const reopen = () => (opening = open().catch(() => {}));
  // A device picked here is the one to start with next time too.
  micSel.addEventListener("change", () => (savePrefs(localStorage, { mic: micSel.value }), reopen()));
  camSel.addEventListener("change", () => (savePrefs(localStorage, { camera: camSel.value }), reopen()));

  const name = /** @type {HTMLInputElement} */ (h("input", { id: "pj-name", type: "text", autocomplete: "name", required: true, maxlength: 100, value: ctx.name, autofocus: !ctx.name }));
  const pwd = /** @type {HTMLInputElement} */ (h("input", { id: "pj-passcode", type: "text", autocomplete: "off", value: ctx.passcode }));
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const meetingTitle = h("p", { class: "prejoin-meeting", id: "pj-title", hidden: true });
  const present = h("p", { class: "prejoin-present", id: "pj-present", role: "status", hidden: true });
  const joinBtn = /** @type {HTMLButtonElement} */ (h("button", { class: "btn btn-primary btn-block btn-large", type: "submit", text: "Join now", autofocus: !!ctx.name }));
  /** Where an end-to-end encrypted meeting's notice goes. */
  const e2eeSlot = h("div", { id: "pj-e2ee-slot" });
  /**
   * What the last preview said about end-to-end encryption (undefined: it was refused), with
   * the passcode it was asked with. @type {{code: string, e2ee: boolean | undefined} | null}
   */
  let seen = null;
  /** The preview in flight, if any. @type {Promise<void>} */
  let looking = Promise.resolve();
  /** Shows the meeting's title and who is in it, once the passcode is known (or not needed). @param {string} code */
  const look = (code) => (looking = lookAt(code));
  /** @param {string} code */
  const lookAt = async (code) => {
    if (!ctx.preview) return;
    try {
      const p = await ctx.preview(code);
      seen = { code, e2ee: !!p.e2ee };
      meetingTitle.textContent = p.title;
      present.textContent = whoIsHere(p);
      meetingTitle.hidden = present.hidden = false;
      if (p.e2ee) {
        const { e2eeSupported } = await import("../e2ee/media.js");
        const supported = e2eeSupported();
        e2eeSlot.replaceChildren(e2eeNotice(supported));
        // Joining could only meet the server's refusal: there is nothing to join with.
        joinBtn.hidden = !supported;
      } else {
        e2eeSlot.replaceChildren();
        joinBtn.hidden = false;
      }
    } catch {
      // A wrong or missing passcode: joining says so.
      seen = { code, e2ee: undefined };
    }
  };
  if (ctx.passcode || ctx.signedIn) look(ctx.passcode);
  pwd.addEventListener("change", () => pwd.value.trim() && look(pwd.value.trim()));
  const form = h(
    "form",
    { class: "stack prejoin-form" },
    h("h1", { text: "Ready to join?" }),
    meetingTitle,
    h("p", { class: "muted", text: `Meeting ID ${formatMeetingId(ctx.meetingId)}` }),
    present,
    e2eeSlot,
    ctx.signedIn ? null : field("Your name", name, "Shown to everyone in the meeting"),
    ctx.passcode ? null : field("Passcode", pwd),
    error,
    joinBtn,
    ctx.signedIn ? null : h("p", { class: "muted small" }, "Have an account? ", h("a", { href: "#/signin", onclick: () => sessionStorage.setItem("convene.after_signin", location.pathname + location.search), text: "Sign in" }), " first."),
  );
  if (ctx.error) showError(error, REFUSALS[ctx.error] ?? ctx.error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(error, "");
    joinBtn.disabled = true;
    joinBtn.textContent = "Joining…";
    try {
      await opening;
      meter.stop();
      // Whether the meeting is end-to-end encrypted decides how its media is received (app.js).
      const code = pwd.value.trim();
      await looking;
      if (seen?.code !== code) await look(code); // (asked once per passcode: a wrong one counts)
      const e2ee = seen?.code === code ? seen.e2ee : undefined;
      await join({ passcode: code, displayName: name.value.trim(), muted, cameraOff, stream, effects: ctx.effects, e2ee });
    } catch (err) {
      const code = /** @type {any} */ (err)?.code;
      showError(error, REFUSALS[code] ?? (err instanceof Error ? err.message : String(err)));
      joinBtn.disabled = false;
      joinBtn.textContent = "Join now";
    }
  });

  mount(
    h("header", { class: "topbar topbar-plain" }, brand()),
    h(
      "main",
      { class: "page prejoin", id: "main" },
      h(
        "section",
        { class: "preview", "aria-label": "Camera preview" },
        h("div", { class: "preview-frame" }, video, noCam, h("div", { class: "preview-controls" }, micBtn, camBtn)),
        h("div", { class: "row-2 devices" }, field("Microphone", micSel), field("Camera", camSel)),
        ctx.effects ? backgroundPicker(ctx.effects.camera, ctx.effect ?? { kind: "none" }, "pj-background", rememberBackground) : null,
        level,
      ),
      h("section", { class: "card" }, form),
    ),
  );
  paint();
  await reopen();
}

/**
 * @param {HTMLSelectElement} select @param {MediaDeviceInfo[]} devices @param {string | undefined} current
 */
function fill(select, devices, current) {
  select.replaceChildren(...devices.map((d, i) => h("option", { value: d.deviceId, text: d.label || `Device ${i + 1}`, selected: d.deviceId === current })));
  select.disabled = devices.length === 0;
}
