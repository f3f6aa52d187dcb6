// The schedule / edit meeting dialog.

import { h, field, showError, formatWhen } from "./dom.js";

/** @typedef {import("../api.js").Api} Api */
/** @typedef {import("../types.js").Meeting} Meeting */

const RECURRENCES = [
  ["", "Does not repeat"],
  ["FREQ=DAILY;COUNT=10", "Daily (10 times)"],
  ["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=20", "Every weekday (4 weeks)"],
  ["FREQ=WEEKLY;COUNT=10", "Weekly (10 times)"],
  ["FREQ=WEEKLY;INTERVAL=2;COUNT=6", "Every two weeks (6 times)"],
  ["FREQ=MONTHLY;COUNT=6", "Monthly (6 times)"],
];

const SETTINGS = /** @type {const} */ ([
  ["waiting_room", "Waiting room: I admit people"],
  ["join_before_host", "Let people join before the host"],
  ["mute_on_entry", "Mute participants when they join"],
  ["allow_guests", "Allow guests without an account"],
  ["auto_record", "Record automatically when the meeting starts"],
  ["e2ee", "End-to-end encryption: media encrypted on each device (no server recording)"],
  ["peer_to_peer", "Connect two people directly (peer-to-peer)"],
  ["captions", "Live captions"],
]);

const RECORDING_ACCESS = [
  ["participants", "People who attended"],
  ["host", "Only me and co-hosts"],
  ["organisation", "Everyone in the organisation"],
];

/** Offset of `tz` from UTC at instant `ms`, in ms. @param {number} ms @param {string} tz */
function zoneOffset(ms, tz) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).formatToParts(new Date(ms));
  /** @type {Record<string, number>} */
  const v = {};
  for (const p of parts) if (p.type !== "literal") v[p.type] = Number(p.value);
  return Date.UTC(v.year, v.month - 1, v.day, v.hour, v.minute, v.second) - Math.floor(ms / 1000) * 1000;
}

/** "2030-01-07T10:00" as wall time in `tz` → RFC 3339 UTC. @param {string} local @param {string} tz */
export function zonedToUtc(local, tz) {
  const [date, time] = local.split("T");
  const [y, mo, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, d, hh, mm);
  let utc = wall - zoneOffset(wall, tz);
  utc = wall - zoneOffset(utc, tz); // once more: the offset may differ across a DST change
  return new Date(utc).toISOString();
}

/** RFC 3339 → "YYYY-MM-DDTHH:MM" wall time in `tz`. @param {string} iso @param {string} tz */
function utcToZoned(iso, tz) {
  const ms = new Date(iso).getTime();
  return new Date(ms + zoneOffset(ms, tz)).toISOString().slice(0, 16);
}

/**
 * Opens the dialog; resolves with the saved meeting (with `conflicts`), or null if closed.
 * @param {Api} api @param {Meeting | null} existing
 * @param {boolean} [e2eeDefault] a new meeting: my default for end-to-end encryption
 * @returns {Promise<Meeting | null>}
 */
export function scheduleDialog(api, existing, e2eeDefault = false) {
  const here = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const tz = existing?.timezone ?? here;
  const start = existing ? utcToZoned(existing.start_time, tz) : nextHalfHour(tz);
  const title = h("input", { id: "m-title", type: "text", required: true, maxlength: 200, value: existing?.title ?? "", autofocus: true, placeholder: "Team sync" });
  const when = h("input", { id: "m-start", type: "datetime-local", required: true, value: start });
  const duration = h("select", { id: "m-duration" }, ...[15, 30, 45, 60, 90, 120].map((m) => h("option", { value: m, text: `${m} min`, selected: (existing?.duration_minutes ?? 30) === m })));
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [here];
  if (!zones.includes(tz)) zones.unshift(tz);
  const zone = h("select", { id: "m-timezone" }, ...zones.map((z) => h("option", { value: z, text: z.replace(/_/g, " "), selected: z === tz })));
  const invitees = h("textarea", { id: "m-invitees", rows: 2, placeholder: "bob@example.com, carol@example.com" });
  /** @type {HTMLTextAreaElement} */ (invitees).value = (existing?.invitees ?? []).map((i) => i.email).join(", ");
  const repeat = h("select", { id: "m-recurrence" }, ...RECURRENCES.map(([v, t]) => h("option", { value: v, text: t, selected: (existing?.recurrence ?? "") === v })));
  const boxes = SETTINGS.map(([key, label]) => {
    // New meetings: guests allowed and peer-to-peer on, as the server's defaults.
    const checked = existing ? !!existing.settings[key] : key === "allow_guests" || key === "peer_to_peer" || (key === "e2ee" && e2eeDefault);
    return h("label", { class: "check" }, h("input", { type: "checkbox", name: key, checked }), label);
  });
  // Live captions: the server cannot hear an end-to-end encrypted meeting.
  const box = (/** @type {string} */ name) => /** @type {HTMLInputElement} */ (boxes.find((b) => b.querySelector(`input[name="${name}"]`))?.querySelector("input"));
  const captionsNote = h("p", { class: "hint", "data-testid": "captions-e2ee-note", text: "Captions are unavailable in end-to-end encrypted meetings", hidden: true });
  const syncCaptions = () => {
    const e2ee = box("e2ee")?.checked ?? false;
    const cc = box("captions");
    if (!cc) return;
    if (e2ee) cc.checked = false;
    cc.disabled = e2ee;
    /** @type {HTMLElement} */ (captionsNote).hidden = !e2ee;
  };
  box("e2ee")?.addEventListener("change", syncCaptions);
  syncCaptions();
  const access = h(
    "select",
    { id: "m-recording-access" },
    ...RECORDING_ACCESS.map(([v, t]) => h("option", { value: v, text: t, selected: (existing?.settings.recording_access ?? "participants") === v })),
  );
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = h("button", { class: "btn btn-primary", type: "submit", text: existing ? "Save changes" : "Schedule" });
  const cancel = h("button", { class: "btn", type: "button", value: "cancel", text: "Close" });
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "stack", method: "dialog" },
      h("h2", { text: existing ? "Edit meeting" : "Schedule a meeting" }),
      field("Title", title),
      h("div", { class: "row-2" }, field("Starts", when), field("Duration", duration)),
      h("div", { class: "row-2" }, field("Time zone", zone), field("Repeats", repeat)),
      field("Invitees", invitees, "E-mail addresses, separated by commas. They get an invite with a calendar file."),
      h("fieldset", { class: "checks" }, h("legend", { text: "Settings" }), ...boxes, captionsNote),
      field("Who can watch recordings", access, "You can change it for each recording later."),
      error,
      h("div", { class: "dialog-actions" }, cancel, save),
    )
  );
  const dialog = /** @type {HTMLDialogElement} */ (h("dialog", { class: "dialog", "aria-labelledby": "m-title" }, form));
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve) => {
    const close = (/** @type {Meeting | null} */ result) => {
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    cancel.addEventListener("click", () => close(null));
    dialog.addEventListener("cancel", () => close(null));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(error, "");
      const zoneName = /** @type {HTMLSelectElement} */ (zone).value;
      /** @type {Record<string, boolean | string>} */
      const settings = { recording_access: /** @type {HTMLSelectElement} */ (access).value };
      for (const b of boxes) {
        const cb = /** @type {HTMLInputElement} */ (b.querySelector("input"));
        settings[cb.name] = cb.checked;
      }
      const body = {
        title: /** @type {HTMLInputElement} */ (title).value.trim(),
        start_time: zonedToUtc(/** @type {HTMLInputElement} */ (when).value, zoneName),
        duration_minutes: Number(/** @type {HTMLSelectElement} */ (duration).value),
        timezone: zoneName,
        recurrence: /** @type {HTMLSelectElement} */ (repeat).value || null,
        invitees: /** @type {HTMLTextAreaElement} */ (invitees).value.split(/[\s,;]+/).filter(Boolean),
        settings,
      };
      /** @type {HTMLButtonElement} */ (save).disabled = true;
      try {
        close(existing ? await api.updateMeeting(existing.meeting_id, body) : await api.createMeeting(body));
      } catch (err) {
        showError(error, err instanceof Error ? err.message : String(err));
      } finally {
        /** @type {HTMLButtonElement} */ (save).disabled = false;
      }
    });
  });
}

/** @param {string} tz */
function nextHalfHour(tz) {
  const ms = Math.ceil(Date.now() / 1_800_000) * 1_800_000 + 1_800_000;
  return utcToZoned(new Date(ms).toISOString(), tz);
}

/** The warning shown after saving a meeting that overlaps others. @param {Meeting} m */
export function conflictWarning(m) {
  const list = m.conflicts ?? [];
  if (list.length === 0) return null;
  return h(
    "div",
    { class: "banner banner-warning", role: "alert", "data-testid": "conflicts" },
    h("strong", { text: `“${m.title}” overlaps ${list.length === 1 ? "another meeting" : `${list.length} meetings`}:` }),
    h("ul", {}, ...list.map((c) => h("li", { text: `${c.title} — ${formatWhen(c.start_time)}` }))),
  );
}
