// The recordings screens: the list of recordings I may watch, and one recording with a
// seekable player (the server answers Range requests on its signed link) with the live
// captions of the time as its captions track and a transcript to jump through, the chat log
// beside it, download, and — for its host — who may watch it and delete.

import { h, mount, field, toast, formatWhen, confirmAction, formatClock } from "./dom.js";
import { header } from "./home.js";

/** @typedef {import("../api.js").Api} Api */
/** @typedef {import("../types.js").Me} Me */

/**
 * @typedef {object} Recording
 * @property {string} id
 * @property {number} meeting_id
 * @property {string} meeting_title
 * @property {"server" | "client"} kind server-side, or recorded on someone's device and uploaded
 * @property {string | null} [recorded_by] who started (server) or made (client) it
 * @property {"recording" | "processing" | "ready" | "failed"} status
 * @property {string | null} failure
 * @property {"host" | "participants" | "organisation"} access
 * @property {string} started_at
 * @property {number | null} duration_seconds
 * @property {number | null} size_bytes
 * @property {boolean} can_manage
 */

/**
 * @typedef {Recording & {participants: string[], chat: {from_name: string, text: string, offset_seconds: number}[],
 *   stream_url: string | null, download_url: string | null}} RecordingDetail
 */

const STATUS_TEXT = { recording: "Recording…", processing: "Processing…", ready: "Ready", failed: "Failed" };
const ACCESS_TEXT = { host: "Only me", participants: "People who attended", organisation: "Everyone with an account" };

/** @param {number | null} bytes */
function size(bytes) {
  if (bytes === null) return "";
  return bytes > 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.ceil(bytes / 1e3)} kB`;
}

/** @param {Recording} r */
function statusPill(r) {
  return h("span", { class: `pill rec-status rec-${r.status}`, "data-status": r.status, text: STATUS_TEXT[r.status] ?? r.status });
}

/** "Recorded on Pia's device" for an uploaded recording. @param {Recording} r */
function kindPill(r) {
  if (r.kind !== "client") return null;
  return h("span", { class: "pill rec-kind", "data-kind": "client", text: r.recorded_by ? `${r.recorded_by}'s device` : "On a device", title: "Recorded on a participant's device and uploaded" });
}

/**
 * Browsers record WebM without a duration in the header; players then show no length and
 * cannot seek until they have read it all. Seeking far past the end once makes them find it.
 * @param {HTMLVideoElement} video
 */
function findDuration(video) {
  video.addEventListener("loadedmetadata", () => {
    if (Number.isFinite(video.duration)) return;
    video.addEventListener("durationchange", () => Number.isFinite(video.duration) && (video.currentTime = 0), { once: true });
    video.currentTime = 1e9;
  }, { once: true });
}

/** The list of recordings. @param {Api} api @param {Me} me */
export async function showRecordings(api, me) {
  const list = h("ul", { class: "list recordings", "aria-label": "Recordings" }, h("li", { class: "muted", text: "Loading…" }));
  mount(header(me, api, "#/recordings"), h("main", { class: "page" }, h("h1", { text: "Recordings" }), list));
  /** @type {Recording[]} */
  const items = await api.request("GET", "/recordings");
  if (!items.length) {
    list.replaceChildren(h("li", { class: "muted", text: "No recordings yet. Hosts start one from the participants panel in a meeting." }));
    return;
  }
  list.replaceChildren(
    ...items.map((r) =>
      h(
        "li",
        { class: "card row spread", "data-recording": r.id },
        h("div", { class: "stack-tight" }, h("a", { href: `#/recordings/${r.id}`, text: r.meeting_title || `Meeting ${r.meeting_id}` }), h("span", { class: "muted small", text: `${formatWhen(r.started_at)}${r.duration_seconds ? ` · ${formatClock(r.duration_seconds)}` : ""}${r.size_bytes ? ` · ${size(r.size_bytes)}` : ""}` })),
        h("div", { class: "row" }, kindPill(r), statusPill(r)),
      ),
    ),
  );
  // Recordings being processed turn ready on their own: look again shortly.
  if (items.some((r) => r.status === "processing" || r.status === "recording")) {
    setTimeout(() => {
      if (location.hash === "#/recordings") showRecordings(api, me);
    }, 5000);
  }
}

/**
 * @typedef {object} TranscriptLine
 * @property {string} speaker
 * @property {number} start_ms from the recording's start
 * @property {number} end_ms
 * @property {string} text
 */

/**
 * What live captions wrote while the recording ran (none: captions were off, or said nothing).
 * @param {Api} api @param {string} id @returns {Promise<TranscriptLine[]>}
 */
async function transcriptOf(api, id) {
  try {
    const t = await api.request("GET", `/recordings/${encodeURIComponent(id)}/transcript`);
    return Array.isArray(t?.lines) ? t.lines : [];
  } catch {
    return []; // 404 no_transcript; anything else costs the captions, not the page
  }
}

/** @param {number} ms */
function vttTime(ms) {
  const t = Math.max(0, Math.round(ms));
  const pad = (/** @type {number} */ n, w = 2) => String(n).padStart(w, "0");
  return `${pad(Math.floor(t / 3600000))}:${pad(Math.floor(t / 60000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}`;
}

/** The lines as WebVTT, each with its speaker as the cue's voice. @param {TranscriptLine[]} lines */
export function toWebVtt(lines) {
  const esc = (/** @type {string} */ s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  // A caption shows at least a second and a half, so a short word can be read.
  const cues = lines.map((l) => `${vttTime(l.start_ms)} --> ${vttTime(Math.max(l.end_ms, l.start_ms + 1500))}\n<v ${esc(l.speaker)}>${esc(l.text)}`);
  return `WEBVTT\n\n${cues.join("\n\n")}\n`;
}

/** One recording. @param {Api} api @param {Me} me @param {string} id */
export async function showRecording(api, me, id) {
  /** @type {RecordingDetail} */
  const r = await api.request("GET", `/recordings/${encodeURIComponent(id)}`);
  const lines = r.status === "ready" ? await transcriptOf(api, id) : [];
  const vtt = lines.length ? URL.createObjectURL(new Blob([toWebVtt(lines)], { type: "text/vtt" })) : null;
  const back = h("a", { href: "#/recordings", text: "← All recordings" });
  const title = h("h1", { text: r.meeting_title || `Meeting ${r.meeting_id}` });
  const facts = h("p", { class: "muted", text: `${formatWhen(r.started_at)}${r.duration_seconds ? ` · ${formatClock(r.duration_seconds)}` : ""} · ${r.participants.join(", ")}${r.kind === "client" ? ` · recorded on ${r.recorded_by ? `${r.recorded_by}'s` : "a participant's"} device` : ""}` });

  /** @type {HTMLVideoElement | null} */
  let video = null;
  let player;
  if (r.status === "ready" && r.stream_url) {
    video = /** @type {HTMLVideoElement} */ (h("video", { class: "rec-player", controls: true, preload: "metadata", src: r.stream_url, "aria-label": "Recording" }));
    if (r.kind === "client") findDuration(video);
    // The player's own captions button turns them on and off; they start on, as they were in
    // the meeting.
    if (vtt) video.append(h("track", { kind: "captions", srclang: "en", label: "Captions", src: vtt, default: true }));
    player = video;
  } else {
    player = h("div", { class: "rec-player rec-pending" }, statusPill(r), r.failure ? h("p", { class: "muted small", text: r.failure }) : null);
    if (r.status === "processing" || r.status === "recording") {
      setTimeout(() => {
        if (location.hash === `#/recordings/${id}`) showRecording(api, me, id);
      }, 3000);
    }
  }

  const seek = (/** @type {number} */ t) => {
    if (video) {
      video.currentTime = t;
      video.play().catch(() => {});
    }
  };
  const chat = h(
    "aside",
    { class: "rec-chat", "aria-label": "Chat during the recording" },
    h("h2", { text: "Chat" }),
    r.chat.length
      ? h("ol", { class: "rec-chat-log" }, ...r.chat.map((c) => h("li", {}, h("button", { class: "btn-link small", text: formatClock(c.offset_seconds), onclick: () => seek(c.offset_seconds), title: "Jump here" }), " ", h("strong", { text: c.from_name }), ": ", c.text)))
      : h("p", { class: "muted", text: "No chat while recording." }),
  );

  const transcript = lines.length
    ? h(
        "section",
        { class: "rec-transcript", "aria-label": "Transcript", "data-testid": "rec-transcript" },
        h("h2", { text: "Transcript" }),
        h("ol", { class: "rec-chat-log" }, ...lines.map((l) => h("li", {}, h("button", { class: "btn-link small", text: formatClock(Math.floor(l.start_ms / 1000)), onclick: () => seek(l.start_ms / 1000), title: "Jump here" }), " ", h("strong", { text: l.speaker }), ": ", l.text))),
        h("a", { class: "btn btn-small", href: vtt ?? "", download: `recording-${r.id}-transcript.vtt`, text: "Download captions (.vtt)" }),
      )
    : null;
  const actions = h("div", { class: "row" });
  if (r.download_url) actions.append(h("a", { class: "btn", href: r.download_url, download: "", text: "Download" }));
  if (r.can_manage) {
    const access = /** @type {HTMLSelectElement} */ (h("select", { id: "rec-access" }, ...Object.entries(ACCESS_TEXT).map(([v, t]) => h("option", { value: v, text: t, selected: r.access === v }))));
    access.addEventListener("change", async () => {
      try {
        await api.request("PATCH", `/recordings/${encodeURIComponent(id)}`, { json: { access: access.value } });
        toast("Sharing updated", "success");
      } catch (err) {
        toast(err instanceof Error ? err.message : String(err), "error");
      }
    });
    actions.append(field("Who may watch", access));
    actions.append(
      h("button", {
        class: "btn btn-danger",
        text: "Delete",
        onclick: async () => {
          if (!(await confirmAction("Delete this recording for everyone?", "Delete", "This cannot be undone."))) return;
          try {
            await api.request("DELETE", `/recordings/${encodeURIComponent(id)}`);
            toast("Recording deleted", "success");
            location.hash = "#/recordings";
          } catch (err) {
            toast(err instanceof Error ? err.message : String(err), "error");
          }
        },
      }),
    );
  }

  mount(header(me, api, "#/recordings"), h("main", { class: "page" }, back, title, facts, h("div", { class: "rec-layout" }, h("div", { class: "stack" }, player, actions, transcript), chat)));
}
