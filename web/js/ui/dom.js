// Small DOM helpers shared by the screens: element building, toasts, dialogs, formatting.

/**
 * Builds an element. Attributes starting with `on` are listeners; `class`, `text` and
 * boolean attributes are handled; children may be strings, nodes, or null (skipped).
 * @param {string} tag
 * @param {Record<string, any>} [attrs]
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    // Through the CSSOM, not the attribute: a strict CSP (no 'unsafe-inline') refuses style="…".
    else if (k === "style") el.style.cssText = String(v);
    else if (v === true) {
      el.setAttribute(k, "");
      // On an element made by script the attribute only sets defaultMuted: without this a
      // self-view plays the microphone back, and Safari blocks it as unmuted autoplay.
      if (k === "muted" && el instanceof HTMLMediaElement) el.muted = true;
    } else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** @param {string} id @returns {HTMLElement} */
export function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el;
}

/** @param {string} id @returns {HTMLInputElement} */
export function input(id) {
  return /** @type {HTMLInputElement} */ ($(id));
}

/** Replaces the page content with one screen. @param {...Node} nodes */
export function mount(...nodes) {
  const app = $("app");
  app.replaceChildren(...nodes);
  const focus = app.querySelector("[autofocus]");
  if (focus instanceof HTMLElement) focus.focus();
}

/** At most this many toasts on screen. */
const MAX_TOASTS = 4;

/**
 * Shows a short message in the corner.
 * @param {string} text
 * @param {"info" | "error" | "warning" | "success" | string} [kind]
 * @param {{action?: string, onAction?: () => void, ms?: number}} [opts]
 */
export function toast(text, kind = "info", opts = {}) {
  const box = $("toasts");
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" }, h("span", { text }));
  if (opts.action && opts.onAction) {
    const act = opts.onAction;
    el.append(h("button", { class: "btn btn-small", text: opts.action, onclick: () => (act(), el.remove()) }));
  }
  // The same message again (a setting saved twice) replaces the one showing, not stacks.
  for (const c of [...box.children]) {
    if (!c.querySelector("button") && c.textContent === text && c.classList.contains(`toast-${kind}`)) c.remove();
  }
  // A burst (25 people joining at once) shows the newest few; ones with a button stay.
  const plain = [...box.children].filter((c) => !c.querySelector("button"));
  while (box.childElementCount >= MAX_TOASTS && plain.length) plain.shift()?.remove();
  box.append(el);
  setTimeout(() => el.remove(), opts.ms ?? 5000);
}

/** Removes every toast (a new screen starts without the last one's messages). */
export function clearToasts() {
  document.getElementById("toasts")?.replaceChildren();
}

/**
 * An in-app dialog with a question and a few answers (instead of the browser's `confirm()`).
 * Resolves with the chosen answer's `value`, or null when closed (Escape, Cancel).
 * @template {string} T
 * @param {{title: string, text?: string, actions: {label: string, value: T, kind?: "primary" | "danger"}[], cancel?: string}} opts
 * @returns {Promise<T | null>}
 */
export function choose(opts) {
  return new Promise((resolve) => {
    /** @type {T | null} */
    let answer = null;
    const buttons = opts.actions.map((a) => h("button", { type: "button", class: `btn${a.kind === "danger" ? " btn-danger" : a.kind === "primary" ? " btn-primary" : ""}`, "data-value": a.value, text: a.label, onclick: () => ((answer = a.value), dialog.close()) }));
    const dialog = /** @type {HTMLDialogElement} */ (
      h(
        "dialog",
        { class: "dialog dialog-small", role: "alertdialog", "aria-labelledby": "choose-title", "aria-describedby": opts.text ? "choose-text" : undefined },
        h("h2", { id: "choose-title", text: opts.title }),
        opts.text ? h("p", { id: "choose-text", class: "muted", text: opts.text }) : null,
        h("div", { class: "dialog-actions" }, h("button", { type: "button", class: "btn btn-ghost", text: opts.cancel ?? "Cancel", onclick: () => dialog.close() }), ...buttons),
      )
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    buttons[buttons.length - 1]?.focus();
  });
}

/** Asks to go ahead with one action; resolves true when confirmed. @param {string} title @param {string} action @param {string} [text] */
export async function confirmAction(title, action, text) {
  return (await choose({ title, text, actions: [{ label: action, value: "yes", kind: "danger" }] })) === "yes";
}

/**
 * A form error line that screen readers announce.
 * @param {HTMLElement} el @param {string} text
 */
export function showError(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

/** @param {string} name */
export function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] ?? "?").slice(0, 2);
  return letters.toUpperCase();
}

/** A stable pleasant colour per name. @param {string} name */
export function colorFor(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 55% 42%)`;
}

/**
 * Someone's photo, or their initials on a colour when they have none (or it fails to load).
 * Decorative: the name is always shown next to it.
 * @param {string} name @param {string | null | undefined} url @param {string} size class: avatar-sm, avatar-lg…
 */
export function avatar(name, url, size) {
  const letters = () => h("span", { class: `avatar ${size}`, style: `background:${colorFor(name)}`, text: initials(name), "aria-hidden": "true" });
  if (!url) return letters();
  const img = h("img", { class: `avatar ${size} avatar-photo`, src: url, alt: "", "aria-hidden": "true", draggable: "false" });
  img.addEventListener("error", () => img.replaceWith(letters()), { once: true });
  return img;
}

/** A length of time as a clock shows it: `m:ss`, or `h:mm:ss` from an hour. @param {number} seconds */
export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** @param {string} iso @param {string} [timeZone] */
export function formatWhen(iso, timeZone) {
  return new Date(iso).toLocaleString(undefined, {
    weekday: "short",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone,
  });
}

/** @param {number} seconds */
export function formatDuration(seconds) {
  const m = Math.round(seconds / 60);
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** "8412345678" → "841 234 5678" @param {number | string} id */
export function formatMeetingId(id) {
  const s = String(id);
  return s.length > 6 ? `${s.slice(0, 3)} ${s.slice(3, 6)} ${s.slice(6)}` : s;
}

/** @param {string} text */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied to the clipboard", "success", { ms: 2500 });
  } catch {
    // No clipboard (an insecure context, or refused): show the text selected to copy by hand.
    const out = /** @type {HTMLTextAreaElement} */ (h("textarea", { class: "copy-out", readonly: true, rows: Math.min(8, text.split("\n").length + 1), "aria-label": "Text to copy" }));
    out.value = text;
    const dialog = /** @type {HTMLDialogElement} */ (h("dialog", { class: "dialog dialog-small", "aria-label": "Copy this" }, h("h2", { text: "Copy this" }), out, h("div", { class: "dialog-actions" }, h("button", { class: "btn btn-primary", type: "button", text: "Done", onclick: () => dialog.close() }))));
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
    out.select();
  }
}

/** Inline icons (Feather-style strokes), sized by CSS. */
export const ICONS = {
  mic: '<path d="M12 2a3 3 0 0 0-3 3v7a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z"/><path d="M19 10v2a7 7 0 0 1-14 0v-2M12 19v3"/>',
  micOff:
    '<path d="M1 1l22 22M9 9v3a3 3 0 0 0 5.12 2.12M15 9.34V5a3 3 0 0 0-5.94-.6"/><path d="M17 16.95A7 7 0 0 1 5 12v-2m14 0v2c0 .7-.1 1.38-.29 2M12 19v3"/>',
  video: '<path d="M23 7l-7 5 7 5V7z"/><rect x="1" y="5" width="15" height="14" rx="2"/>',
  videoOff: '<path d="M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.66 0H14a2 2 0 0 1 2 2v3.34l1 1L23 7v10M1 1l22 22"/>',
  screen: '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/>',
  hand: '<path d="M18 11V6a2 2 0 0 0-4 0M14 10V4a2 2 0 0 0-4 0v2M10 10.5V6a2 2 0 0 0-4 0v8"/><path d="M18 8a2 2 0 1 1 4 0v6a8 8 0 0 1-8 8h-2c-2.8 0-4.5-.86-5.99-2.34l-3.6-3.6a2 2 0 0 1 2.83-2.82L7 15"/>',
  smile: '<circle cx="12" cy="12" r="10"/><path d="M8 14s1.5 2 4 2 4-2 4-2M9 9h.01M15 9h.01"/>',
  chat: '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
  users: '<path d="M17 21v-2a4 4 0 0 0-4-4H5a4 4 0 0 0-4 4v2"/><circle cx="9" cy="7" r="4"/><path d="M23 21v-2a4 4 0 0 0-3-3.87M16 3.13a4 4 0 0 1 0 7.75"/>',
  phone: '<path d="M10.68 13.31a16 16 0 0 0 3.41 2.6l1.27-1.27a2 2 0 0 1 2.11-.45 12.84 12.84 0 0 0 2.81.7 2 2 0 0 1 1.72 2v3a2 2 0 0 1-2.18 2 19.79 19.79 0 0 1-8.63-3.07 19.42 19.42 0 0 1-6-6 19.79 19.79 0 0 1-3.07-8.67A2 2 0 0 1 4.11 2h3a2 2 0 0 1 2 1.72 12.84 12.84 0 0 0 .7 2.81 2 2 0 0 1-.45 2.11L8.09 9.91"/><path d="M23 1L1 23"/>',
  more: '<circle cx="12" cy="12" r="1"/><circle cx="19" cy="12" r="1"/><circle cx="5" cy="12" r="1"/>',
  copy: '<rect x="9" y="9" width="13" height="13" rx="2"/><path d="M5 15H4a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v1"/>',
  lock: '<rect x="3" y="11" width="18" height="11" rx="2"/><path d="M7 11V7a5 5 0 0 1 10 0v4"/>',
  x: '<path d="M18 6L6 18M6 6l12 12"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  calendar: '<rect x="3" y="4" width="18" height="18" rx="2"/><path d="M16 2v4M8 2v4M3 10h18"/>',
  settings: '<circle cx="12" cy="12" r="3"/><path d="M19.4 15a1.65 1.65 0 0 0 .33 1.82l.06.06a2 2 0 1 1-2.83 2.83l-.06-.06a1.65 1.65 0 0 0-2.82 1.17V21a2 2 0 1 1-4 0v-.09a1.65 1.65 0 0 0-2.82-1.17l-.06.06a2 2 0 1 1-2.83-2.83l.06-.06A1.65 1.65 0 0 0 3.6 15H3a2 2 0 1 1 0-4h.09a1.65 1.65 0 0 0 1.17-2.82l-.06-.06a2 2 0 1 1 2.83-2.83l.06.06A1.65 1.65 0 0 0 9 3.6V3a2 2 0 1 1 4 0v.09a1.65 1.65 0 0 0 2.82 1.17l.06-.06a2 2 0 1 1 2.83 2.83l-.06.06A1.65 1.65 0 0 0 20.4 9H21a2 2 0 1 1 0 4h-.09a1.65 1.65 0 0 0-1.51 1z"/>',
  send: '<path d="M22 2L11 13M22 2l-7 20-4-9-9-4 20-7z"/>',
  chevronUp: '<path d="M18 15l-6-6-6 6"/>',
  chevronLeft: '<path d="M15 18l-6-6 6-6"/>',
  chevronRight: '<path d="M9 18l6-6-6-6"/>',
  cameraFlip: '<path d="M11 19H4a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h5M13 5h7a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2h-5"/><circle cx="12" cy="12" r="3"/><path d="M18 22l-3-3 3-3M6 2l3 3-3 3"/>',
  check: '<path d="M20 6L9 17l-5-5"/>',
  record: '<circle cx="12" cy="12" r="9"/><circle cx="12" cy="12" r="4" fill="currentColor"/>',
  stop: '<rect x="6" y="6" width="12" height="12" rx="2" fill="currentColor"/>',
  upload: '<path d="M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M17 8l-5-5-5 5M12 3v12"/>',
  grid: '<rect x="3" y="3" width="7" height="7" rx="1"/><rect x="14" y="3" width="7" height="7" rx="1"/><rect x="14" y="14" width="7" height="7" rx="1"/><rect x="3" y="14" width="7" height="7" rx="1"/>',
  info: '<circle cx="12" cy="12" r="10"/><path d="M12 16v-4M12 8h.01"/>',
  cc: '<rect x="2" y="5" width="20" height="14" rx="2"/><path d="M10.5 10a2.5 2.5 0 1 0 0 4M17.5 10a2.5 2.5 0 1 0 0 4"/>',
  poll: '<path d="M18 20V10M12 20V4M6 20v-6"/>',
  speaker: '<rect x="2" y="3" width="20" height="12" rx="2"/><rect x="2" y="18" width="5" height="3" rx="1"/><rect x="9.5" y="18" width="5" height="3" rx="1"/><rect x="17" y="18" width="5" height="3" rx="1"/>',
};

/** @param {keyof typeof ICONS} name */
export function icon(name) {
  const span = h("span", { class: "icon", "aria-hidden": "true" });
  span.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">${ICONS[name]}</svg>`;
  return span;
}

/** The Convene mark + name, linking home. */
export function brand() {
  return h("a", { class: "brand", href: "#/" }, h("span", { class: "brand-mark", "aria-hidden": "true", text: "C" }), h("span", { class: "brand-name", text: "Convene" }));
}

/**
 * A labelled form field.
 * @param {string} label
 * @param {HTMLElement} control (must have an id)
 * @param {string} [hint]
 */
export function field(label, control, hint) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: control.id, text: label }),
    control,
    hint ? h("small", { class: "hint", text: hint }) : null,
  );
}
