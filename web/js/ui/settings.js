// The settings screen: profile, photo, default background, audio and video, reminders,
// calendar feed.

import { h, mount, field, toast, copyText, initials, colorFor } from "./dom.js";
import { header } from "./home.js";
import { pushState, enablePush, disablePush } from "../push.js";
import { openDevices, listDevices, levelMeter } from "../peer.js";
import { loadPrefs, savePrefs, pick } from "../prefs.js";
import { backgroundCard } from "./backgrounds.js";

/** @typedef {import("../api.js").Api} Api */
/** @typedef {import("../types.js").Me} Me */

/**
 * Crops an image file to its centred square and scales it to 256×256 PNG.
 * @param {File} file @returns {Promise<Blob>}
 */
async function squarePng(file) {
  const bitmap = await createImageBitmap(file);
  const side = Math.min(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 256;
  const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  ctx.drawImage(bitmap, (bitmap.width - side) / 2, (bitmap.height - side) / 2, side, side, 0, 0, 256, 256);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("could not encode the photo"))), "image/png"));
}

/** @param {Api} api @param {Me} me @param {() => void} changed */
export async function showSettings(api, me, changed) {
  const name = h("input", { id: "s-name", type: "text", value: me.display_name, required: true, maxlength: 100 });
  const bg = h("select", { id: "s-background" }, ...[["none", "None"], ["blur", "Blur"], ["image", "Image"]].map(([v, t]) => h("option", { value: v, text: t, selected: me.default_background === v })));
  const e2ee = /** @type {HTMLInputElement} */ (h("input", { id: "s-e2ee", type: "checkbox", checked: !!me.e2ee_default }));
  const e2eeBox = h("label", { class: "check" }, e2ee, "Schedule my meetings end-to-end encrypted (no server recording; people join from a browser that supports it)");
  const profile = h("form", { class: "stack" }, field("Display name", name), field("Default background", bg, "Used when your camera is on in a meeting."), e2eeBox, h("button", { class: "btn btn-primary", type: "submit", text: "Save profile" }));
  profile.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api.updateMe({ display_name: /** @type {HTMLInputElement} */ (name).value.trim(), default_background: /** @type {HTMLSelectElement} */ (bg).value, e2ee_default: e2ee.checked });
      toast("Profile saved", "success");
      changed();
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
  });

  const preview = me.avatar_url ? h("img", { class: "avatar avatar-xl", src: me.avatar_url, alt: "Your photo" }) : h("span", { class: "avatar avatar-xl", style: `background:${colorFor(me.display_name)}`, text: initials(me.display_name) });
  const file = /** @type {HTMLInputElement} */ (h("input", { id: "s-photo", type: "file", accept: "image/png,image/jpeg,image/webp", class: "visually-hidden" }));
  /** @type {Blob | null} */
  let cropped = null;
  const upload = /** @type {HTMLButtonElement} */ (h("button", { class: "btn btn-primary", type: "button", text: "Upload photo", disabled: true }));
  file.addEventListener("change", async () => {
    const f = file.files?.[0];
    if (!f) return;
    try {
      cropped = await squarePng(f);
      const img = h("img", { class: "avatar avatar-xl", src: URL.createObjectURL(cropped), alt: "Preview of your new photo" });
      photoBox.firstElementChild?.replaceWith(img);
      upload.disabled = false;
    } catch {
      toast("That file is not an image we can read.", "error");
    }
  });
  upload.addEventListener("click", async () => {
    if (!cropped) return;
    upload.disabled = true;
    try {
      await api.putAvatar(cropped);
      toast("Photo updated", "success");
      changed();
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
      upload.disabled = false;
    }
  });
  const photoBox = h("div", { class: "photo" }, preview, h("div", { class: "stack" }, h("label", { for: "s-photo", class: "btn", text: "Choose a photo…" }), file, upload, h("small", { class: "hint", text: "PNG, JPEG or WebP. We crop it to a square." })));

  const reminder = h("select", { id: "s-reminder" }, ...[0, 5, 10, 15, 30, 60].map((m) => h("option", { value: m, text: m ? `${m} minutes before` : "No reminders" })));
  api.notifications().then((p) => (/** @type {HTMLSelectElement} */ (reminder).value = String(p.reminder_minutes)), () => {});
  reminder.addEventListener("change", async () => {
    try {
      await api.setReminder(Number(/** @type {HTMLSelectElement} */ (reminder).value));
      toast("Reminder saved", "success");
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
  });

  const pushBox = h("div", { class: "row" });
  /** Shows the notification control for the browser's current state. */
  const renderPush = async () => {
    const st = await pushState().catch(() => /** @type {const} */ ("unsupported"));
    const text = { unsupported: "This browser cannot show notifications.", denied: "Notifications are blocked for this site in your browser settings.", on: "On in this browser.", off: "Off in this browser." }[st];
    const status = h("span", { class: "muted", id: "s-push-state", text });
    if (st === "unsupported" || st === "denied") return pushBox.replaceChildren(status);
    const btn = /** @type {HTMLButtonElement} */ (h("button", { class: "btn", type: "button", id: "s-push", text: st === "on" ? "Turn off" : "Turn on browser notifications" }));
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      try {
        if (st === "on") await disablePush(api);
        else await enablePush(api);
        toast(st === "on" ? "Notifications off" : "Notifications on", "success");
      } catch (err) {
        toast(err instanceof Error ? err.message : String(err), "error");
      }
      await renderPush();
    });
    const test = h("button", { class: "btn btn-small", type: "button", text: "Send a test", onclick: () => api.request("POST", "/push/test", { json: {} }).then(() => toast("Test sent", "success"), (e) => toast(String(e.message ?? e), "error")) });
    pushBox.replaceChildren(btn, ...(st === "on" ? [test] : []), status);
  };
  renderPush();

  const feedOut = h("div", { class: "feed" });
  const feedBtn = h("button", { class: "btn", type: "button", text: "Create calendar feed link" });
  feedBtn.addEventListener("click", async () => {
    try {
      const f = await api.createCalendarFeed();
      const out = h("input", { id: "s-feed", type: "text", readonly: true, value: f.url });
      feedOut.replaceChildren(field("Your secret feed URL", out, "Subscribe from Google Calendar or Outlook. Creating a new link disables the old one."), h("div", { class: "row" }, h("button", { class: "btn btn-small", type: "button", text: "Copy", onclick: () => copyText(f.url) }), h("a", { class: "btn btn-small", href: f.webcal_url, text: "Open in calendar app" })));
      feedBtn.textContent = "Replace feed link";
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
  });

  const media = mediaSection();

  mount(
    header(me, api, "#/settings"),
    h(
      "main",
      { class: "page settings", id: "main" },
      h("h1", { class: "page-title", text: "Settings" }),
      h("section", { class: "card", "aria-labelledby": "set-profile" }, h("h2", { id: "set-profile", text: "Profile" }), h("p", { class: "muted", text: `${me.username} · ${me.email}` }), profile),
      h("section", { class: "card", "aria-labelledby": "set-photo" }, h("h2", { id: "set-photo", text: "Profile photo" }), photoBox),
      backgroundCard(api, /** @type {HTMLSelectElement} */ (bg)),
      media,
      h("section", { class: "card", "aria-labelledby": "set-notify" }, h("h2", { id: "set-notify", text: "Reminders and notifications" }), field("Remind me before meetings", reminder), h("p", { class: "muted", text: "Browser notifications: reminders, meetings starting, being let in." }), pushBox),
      h("section", { class: "card", "aria-labelledby": "set-cal" }, h("h2", { id: "set-cal", text: "Calendar" }), h("p", { class: "muted", text: "A private link that lists your meetings in any calendar app." }), feedBtn, feedOut),
    ),
  );
}

/**
 * "Audio and video": the microphone and camera meetings start with, joining muted or with the
 * camera off (kept in this browser, see prefs.js), and a test with a live preview and level.
 */
function mediaSection() {
  const prefs = loadPrefs(localStorage);
  const micSel = /** @type {HTMLSelectElement} */ (h("select", { id: "s-mic" }));
  const camSel = /** @type {HTMLSelectElement} */ (h("select", { id: "s-cam" }));
  const joinMuted = /** @type {HTMLInputElement} */ (h("input", { id: "s-join-muted", type: "checkbox", checked: prefs.joinMuted }));
  const joinCamOff = /** @type {HTMLInputElement} */ (h("input", { id: "s-join-cam-off", type: "checkbox", checked: prefs.joinCameraOff }));
  const video = /** @type {HTMLVideoElement} */ (h("video", { class: "preview-video", autoplay: true, muted: true, playsinline: true }));
  const level = h("div", { class: "level", role: "meter", "aria-label": "Microphone level", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, h("span", { class: "level-bar" }));
  const preview = h("div", { class: "settings-preview", hidden: true }, h("div", { class: "preview-frame" }, video), level);
  const testBtn = /** @type {HTMLButtonElement} */ (h("button", { class: "btn", type: "button", text: "Test camera and microphone" }));
  /** @type {MediaStream | null} */
  let stream = null;
  let meter = { stop() {} };

  const stop = () => {
    meter.stop();
    for (const t of stream?.getTracks() ?? []) t.stop();
    stream = null;
    video.srcObject = null;
  };
  /** Lists the devices, the preferred (or open) one selected; labels appear once permitted. */
  const fillAll = async () => {
    const { audio, video: cams } = await listDevices().catch(() => ({ audio: [], video: [] }));
    const current = loadPrefs(localStorage);
    const fill = (/** @type {HTMLSelectElement} */ sel, /** @type {MediaDeviceInfo[]} */ list, /** @type {string | undefined} */ chosen, /** @type {string} */ noun) => {
      sel.replaceChildren(
        h("option", { value: "", text: "System default" }),
        ...list.map((d, i) => h("option", { value: d.deviceId, text: d.label || `${noun} ${i + 1}`, selected: d.deviceId === chosen })),
      );
    };
    fill(micSel, audio, pick(current.mic, audio), "Microphone");
    fill(camSel, cams, pick(current.camera, cams), "Camera");
  };
  const test = async () => {
    stop();
    testBtn.disabled = true;
    testBtn.textContent = "Starting…";
    stream = await openDevices({ audioDevice: micSel.value || undefined, videoDevice: camSel.value || undefined });
    testBtn.disabled = false;
    if (!stream) {
      testBtn.textContent = "Test camera and microphone";
      toast("No camera or microphone could be opened. Check the browser's permissions.", "error");
      return;
    }
    video.srcObject = stream;
    meter = levelMeter(stream, (v) => {
      /** @type {HTMLElement} */ (level.firstElementChild).style.width = `${Math.round(v * 100)}%`;
      level.setAttribute("aria-valuenow", String(Math.round(v * 100)));
    });
    preview.hidden = false;
    testBtn.textContent = "Stop test";
    await fillAll();
  };
  testBtn.addEventListener("click", () => {
    if (stream) {
      stop();
      preview.hidden = true;
      testBtn.textContent = "Test camera and microphone";
    } else {
      test().catch(() => {});
    }
  });
  const saved = () => toast("Saved", "success");
  micSel.addEventListener("change", () => {
    savePrefs(localStorage, { mic: micSel.value });
    saved();
    if (stream) test().catch(() => {});
  });
  camSel.addEventListener("change", () => {
    savePrefs(localStorage, { camera: camSel.value });
    saved();
    if (stream) test().catch(() => {});
  });
  joinMuted.addEventListener("change", () => (savePrefs(localStorage, { joinMuted: joinMuted.checked }), saved()));
  joinCamOff.addEventListener("change", () => (savePrefs(localStorage, { joinCameraOff: joinCamOff.checked }), saved()));
  // Leaving the page turns the camera off.
  window.addEventListener("hashchange", stop, { once: true });
  fillAll();

  return h(
    "section",
    { class: "card", "aria-labelledby": "set-media" },
    h("h2", { id: "set-media", text: "Audio and video" }),
    h("p", { class: "muted", text: "What meetings start with on this device. You can still change it before joining and during a meeting." }),
    h("div", { class: "row-2 devices" }, field("Microphone", micSel), field("Camera", camSel)),
    h("label", { class: "check" }, joinMuted, "Join meetings with my microphone off"),
    h("label", { class: "check" }, joinCamOff, "Join meetings with my camera off"),
    h("div", { class: "row" }, testBtn),
    preview,
  );
}
