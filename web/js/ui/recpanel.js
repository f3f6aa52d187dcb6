// The card for a recording made on this device: the timer and Stop while recording, then the
// upload's progress bar (with automatic retries shown), and the result — a link to the
// recording, or what went wrong with Retry / Save a copy / Discard. It lives outside the
// page content, so it stays on screen after leaving the meeting until the upload is done.
// In an end-to-end encrypted meeting there is no upload: the card says the file stays on
// this device, and when recording stops the file is saved as a download (and can be again).

import { h, icon, toast, confirmAction, formatClock } from "./dom.js";

/** @typedef {import("../localrec.js").LocalRecording} LocalRecording */

/** The recording of this page, if one was made (one at a time). @type {LocalRecording | null} */
let current = null;

export function currentRecording() {
  return current;
}

/** @param {number} bytes */
function mb(bytes) {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

/** Leaving the page while this is busy loses the recording: the browser asks first. @param {BeforeUnloadEvent} e */
function guard(e) {
  if (current?.busy) {
    e.preventDefault();
    e.returnValue = "";
  }
}

/**
 * Shows the card for `rec` (replacing an older, finished one) and keeps it current.
 * @param {LocalRecording} rec @param {{inMeeting: () => boolean}} opts
 */
export function showRecordingCard(rec, opts) {
  current = rec;
  document.getElementById("localrec-card")?.remove();
  const card = h("section", { id: "localrec-card", class: "localrec-card", role: "region", "aria-label": "Recording on this device" });
  document.body.append(card);
  addEventListener("beforeunload", guard);
  /** Only the recording timer needs redrawing on its own; the rest changes with events. */
  let tick = setInterval(() => rec.state === "recording" && render(), 500);
  let saveUrl = "";
  let announced = false;

  const close = () => {
    clearInterval(tick);
    card.remove();
  };

  const render = () => {
    card.dataset.state = rec.state;
    const s = rec.state;
    if (s === "starting" || s === "recording") {
      card.replaceChildren(
        h("div", { class: "localrec-row" }, h("span", { class: "rec-dot rec-dot-red", "aria-hidden": "true" }), h("strong", { text: "Recording on this device" }), h("span", { class: "localrec-timer", id: "localrec-timer", role: "timer", text: formatClock(rec.elapsed) })),
        h("div", { class: "localrec-row" }, h("span", { class: "muted-dark small", text: "What you see and hear is recorded." }), h("button", { type: "button", id: "localrec-stop", class: "btn btn-small btn-danger", text: "Stop", onclick: () => rec.stop() })),
        ...(rec.onDevice ? [h("p", { class: "small muted-dark", id: "localrec-e2ee", text: "End-to-end encrypted meeting: the recording stays on this device, it is not uploaded." })] : []),
      );
    } else if (s === "stopping") {
      card.replaceChildren(h("div", { class: "localrec-row" }, h("span", { class: "spinner spinner-sm", "aria-hidden": "true" }), h("strong", { text: "Finishing the recording…" })));
    } else if (s === "uploading") {
      const pct = Math.floor(rec.progress * 100);
      const total = rec.blob?.size ?? 0;
      const bar = h("div", { class: "localrec-bar", id: "localrec-progress", role: "progressbar", "aria-label": "Upload progress", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) }, h("span", { style: `width:${pct}%` }));
      card.replaceChildren(
        h("div", { class: "localrec-row" }, icon("upload"), h("strong", { text: "Uploading recording" }), h("span", { class: "localrec-pct", id: "localrec-pct", text: `${pct}%` })),
        bar,
        h("div", { class: "localrec-row small muted-dark" }, rec.retryIn ? h("span", { class: "localrec-retry", text: `Connection lost — retrying in ${rec.retryIn} s` }) : h("span", { text: `${mb(Math.min(rec.sent, total))} of ${mb(total)} · ${formatClock(rec.elapsed)} recorded` }), opts.inMeeting() ? null : h("span", { text: "Keep this page open" })),
      );
    } else if (s === "done" && rec.recording) {
      const href = `/#/recordings/${encodeURIComponent(rec.recording.id)}`;
      const inMeeting = opts.inMeeting();
      card.replaceChildren(
        h("div", { class: "localrec-row" }, h("span", { class: "localrec-ok" }, icon("check")), h("strong", { text: "Recording saved" }), h("button", { type: "button", class: "btn btn-icon btn-ghost localrec-close", "aria-label": "Close", onclick: close }, icon("x"))),
        h("div", { class: "localrec-row small" }, h("span", { class: "muted-dark", text: `${formatClock(rec.elapsed)} · ${mb(rec.blob?.size ?? 0)}` }), h("a", { id: "localrec-open", class: "btn btn-small btn-primary", href, target: inMeeting ? "_blank" : null, rel: inMeeting ? "noopener" : null, text: "Open" })),
      );
      if (!announced) {
        announced = true;
        toast("Your recording was uploaded", "success", { action: "View", onAction: () => (inMeeting ? open(href, "_blank", "noopener") : location.assign(href)), ms: 8000 });
        clearInterval(tick);
        tick = setTimeout(close, 60_000);
      }
    } else if (s === "saved" && rec.blob) {
      // On the device only: a download, offered at once and again from the card.
      const save = h("a", { id: "localrec-download", class: "btn btn-small btn-primary", href: (saveUrl ||= URL.createObjectURL(rec.blob)), download: rec.fileName, text: "Save again" });
      card.replaceChildren(
        h("div", { class: "localrec-row" }, h("span", { class: "localrec-ok" }, icon("check")), h("strong", { text: "Recording saved on this device" }), h("button", { type: "button", class: "btn btn-icon btn-ghost localrec-close", "aria-label": "Close", onclick: close }, icon("x"))),
        h("p", { class: "small muted-dark", text: "End-to-end encrypted meeting: it was not uploaded. Look in your downloads." }),
        h("div", { class: "localrec-row small" }, h("span", { class: "muted-dark", text: `${formatClock(rec.elapsed)} · ${mb(rec.blob.size)}` }), save),
      );
      if (!announced) {
        announced = true;
        /** @type {HTMLAnchorElement} */ (save).click();
        toast("Your recording was saved on this device", "success", { ms: 8000 });
        clearInterval(tick);
      }
    } else if (s === "failed") {
      const blob = rec.blob;
      card.replaceChildren(
        h("div", { class: "localrec-row" }, h("span", { class: "localrec-bad" }, icon("x")), h("strong", { text: blob ? "Upload failed" : "Recording discarded" }), blob ? null : h("button", { type: "button", class: "btn btn-icon btn-ghost localrec-close", "aria-label": "Close", onclick: close }, icon("x"))),
        ...(rec.error ? [h("p", { class: "small muted-dark localrec-error", text: rec.error })] : []),
        ...(blob
          ? [h(
              "div",
              { class: "localrec-row localrec-actions" },
              h("button", { type: "button", id: "localrec-retry", class: "btn btn-small btn-primary", text: "Retry", onclick: () => rec.retry() }),
              h("a", { class: "btn btn-small", href: (saveUrl ||= URL.createObjectURL(blob)), download: `${rec.meetingTitle || "meeting"}.webm`.replace(/[\\/:*?"<>|]/g, "_"), text: "Save a copy" }),
              h("button", { type: "button", class: "btn btn-small btn-danger-ghost", text: "Discard", onclick: async () => (await confirmAction("Discard this recording?", "Discard", "It cannot be recovered.")) && rec.discard() }),
            )]
          : []),
      );
    }
    if (!rec.busy) removeEventListener("beforeunload", guard);
  };
  rec.addEventListener("change", render);
  render();
}
