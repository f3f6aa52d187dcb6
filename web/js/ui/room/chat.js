// The chat panel: the messages (links made clickable, shared files, private ones marked) and
// the composer with its recipient (everyone, or one person privately).

import { h, icon, toast } from "../dom.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */
/** @typedef {import("../../types.js").ChatMessage} ChatMessage */

/** @param {RoomContext} ctx @param {() => HTMLElement} closeBtn */
export function chatPanel(ctx, closeBtn) {
  const { meeting, state } = ctx;
  const others = [...meeting.participants.values()].filter((p) => p.participant_id !== meeting.me);
  // Someone I wrote to privately has left: the next message goes to everyone again.
  if (state.chatTo && !others.some((p) => p.participant_id === state.chatTo)) state.chatTo = null;
  const privateTo = state.chatTo ? meeting.nameOf(state.chatTo) : null;
  const to = /** @type {HTMLSelectElement} */ (
    h("select", { id: "chat-to", "aria-label": "Send to" }, h("option", { value: "", text: "Everyone" }), ...others.map((p) => h("option", { value: p.participant_id, text: p.display_name, selected: p.participant_id === state.chatTo })))
  );
  to.addEventListener("change", () => {
    state.chatTo = to.value || null;
    ctx.render();
    /** @type {HTMLElement | null} */ (document.querySelector("#chat-to"))?.focus();
  });
  const text = /** @type {HTMLTextAreaElement} */ (h("textarea", { id: "chat-input", rows: 2, placeholder: privateTo ? `Message ${privateTo} privately…` : "Message everyone…", "aria-label": privateTo ? `Private message to ${privateTo}` : "Message to everyone", maxlength: 4000 }));
  // A private recipient stays chosen after sending (as in Zoom), so it must be impossible to miss.
  const note = privateTo
    ? h(
        "p",
        { class: "chat-private-note", id: "chat-private-note", role: "status" },
        h("span", { text: `Private to ${privateTo}: only they see your messages` }),
        h("button", { type: "button", class: "btn btn-small btn-ghost", text: "Send to everyone", onclick: () => ((state.chatTo = null), ctx.render(), /** @type {HTMLElement | null} */ (document.querySelector("#chat-input"))?.focus()) }),
      )
    : null;
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
  const list = h("ol", { class: "chat-list", "aria-live": "polite" }, ...meeting.chat.map((m) => chatLine(ctx, m)));
  queueMicrotask(() => (list.scrollTop = list.scrollHeight));
  return [
    h("div", { class: "side-head" }, h("h2", { text: "Chat" }), closeBtn()),
    list.childElementCount ? list : h("div", { class: "chat-list empty" }, h("p", { class: "muted", text: "No messages yet. Say hello!" })),
    h("div", { class: `chat-compose${privateTo ? " private" : ""}` }, note, h("div", { class: "row" }, h("label", { for: "chat-to", class: "small muted", text: "To" }), to), h("div", { class: "row" }, text, h("button", { class: "btn btn-primary btn-icon", type: "button", "aria-label": "Send", onclick: send }, icon("send")))),
  ];
}

/** @param {RoomContext} ctx @param {ChatMessage} m */
function chatLine(ctx, m) {
  const { meeting } = ctx;
  const mine = m.from === meeting.me;
  const privateTo = m.to ? (m.to === meeting.me ? "to you" : `to ${meeting.nameOf(m.to)}`) : "";
  const body = h("p", { class: "chat-text" });
  for (const part of m.text.split(/(https?:\/\/[^\s<]+)/g)) {
    body.append(/^https?:\/\//.test(part) ? h("a", { href: part, target: "_blank", rel: "noopener noreferrer", text: part }) : part);
  }
  if (m.file) body.append(fileLink(meeting, m.file));
  return h(
    "li",
    { class: `chat-msg${mine ? " mine" : ""}${m.to ? " private" : ""}` },
    h("div", { class: "chat-meta" }, h("strong", { text: mine ? "You" : m.from_name }), privateTo ? h("span", { class: "pill pill-private", text: `Private ${privateTo}` }) : null, m.room ? h("span", { class: "pill", text: meeting.breakout.state?.rooms.find((r) => r.room === m.room)?.name ?? `Room ${m.room}` }) : null, h("time", { text: new Date(m.sent_at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) })),
    body,
  );
}

/**
 * A shared file: the server wants this seat's resume token in a header (a plain link could
 * not send it, and a token in the URL would end up in logs and history), so a click fetches
 * the file and hands the browser the bytes to save under the file's name.
 * @param {import("../../meeting.js").Meeting} meeting
 * @param {{url: string, name: string}} file
 */
function fileLink(meeting, file) {
  const link = /** @type {HTMLAnchorElement} */ (h("a", { href: file.url, class: "chat-file", text: `📎 ${file.name}` }));
  link.addEventListener("click", async (e) => {
    e.preventDefault();
    if (link.getAttribute("aria-busy") === "true") return;
    link.setAttribute("aria-busy", "true");
    try {
      const res = await fetch(file.url, { headers: { "x-convene-seat": meeting.signaling.resumeToken } });
      if (!res.ok) {
        const err = await res.json().catch(() => null);
        throw new Error(err?.error?.message ?? `Could not download ${file.name}`);
      }
      const url = URL.createObjectURL(await res.blob());
      const save = h("a", { href: url, download: file.name, hidden: true });
      document.body.append(save);
      /** @type {HTMLAnchorElement} */ (save).click();
      save.remove();
      // The download has its own copy once started; free ours after it surely has.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    } finally {
      link.removeAttribute("aria-busy");
    }
  });
  return link;
}
