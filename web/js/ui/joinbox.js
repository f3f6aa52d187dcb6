// "Enter a code or link": joining a meeting by its ID or join link, from the home screen or,
// signed out, from the landing page. Also how any screen opens a meeting's pre-join screen.

import { h, field, showError } from "./dom.js";

/**
 * What someone typed or pasted: a join link (`…/j/841234567?pwd=…`) or a meeting ID with any
 * spaces or dashes. Returns null when it is neither.
 * @param {string} raw
 * @returns {{id: string, passcode?: string} | null}
 */
export function parseJoin(raw) {
  const text = raw.trim();
  const link = text.match(/\/j\/(\d+)\/?(?:\?(?:[^#\s]*&)?pwd=([^&#\s]+))?/);
  if (link) return { id: link[1], ...(link[2] ? { passcode: decodeURIComponent(link[2]) } : {}) };
  const id = text.replace(/[\s\-.]/g, "");
  return /^\d{9,11}$/.test(id) ? { id } : null;
}

/** Opens the pre-join screen of a meeting. @param {number | string} id @param {string} [passcode] */
export function goJoin(id, passcode) {
  const url = `/j/${String(id).replace(/\D/g, "")}${passcode ? `?pwd=${encodeURIComponent(passcode)}` : ""}`;
  history.pushState(null, "", url);
  dispatchEvent(new PopStateEvent("popstate"));
}

/**
 * The form: the code or link, and (when `withPasscode`) a passcode field; the pre-join screen
 * asks for a passcode that is still missing.
 * @param {{withPasscode?: boolean, label?: string}} [opts]
 */
export function joinForm(opts = {}) {
  const code = /** @type {HTMLInputElement} */ (h("input", { id: "join-id", type: "text", inputmode: "text", autocomplete: "off", placeholder: "841 234 5678 or a link", required: true }));
  const pwd = /** @type {HTMLInputElement} */ (h("input", { id: "join-passcode", type: "text", autocomplete: "off", placeholder: "Optional" }));
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "stack join-form" },
    field(opts.label ?? "Meeting ID or link", code),
    opts.withPasscode ? field("Passcode", pwd) : null,
    error,
    h("button", { class: "btn btn-primary btn-block", type: "submit", text: "Join" }),
  );
  code.addEventListener("input", () => (error.hidden = true)); // the complaint was about what was there before
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const target = parseJoin(code.value);
    if (!target) return showError(error, "Enter a meeting ID (9 to 11 digits) or a join link.");
    goJoin(target.id, (opts.withPasscode && pwd.value.trim()) || target.passcode);
  });
  return form;
}
