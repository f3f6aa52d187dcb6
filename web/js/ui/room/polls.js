// The polls panel: a host's or co-host's form to ask a question, every poll of the meeting
// with its options to vote on (or change a vote while it is open), and result bars for whoever
// may see them (moderators always, everyone once shared), with "End poll" and "Share results".
// The panel is drawn again on every change, so what is typed or ticked lives in `drafts`.

import { h, icon } from "../dom.js";

/** @typedef {import("./context.js").RoomContext} RoomContext */
/** @typedef {import("../../types.js").Poll} Poll */

const MAX_OPTIONS = 10;

/** What is being typed or ticked, kept across redraws. */
const drafts = {
  question: "",
  options: ["", ""],
  multiple: false,
  anonymous: false,
  /** The form is open (a moderator asked for it). */
  composing: false,
  /** @type {Map<string, Set<number>>} ticked options per poll, before "Vote" */
  picks: new Map(),
};

/** Open polls I have not voted in yet (for the toolbar badge). @param {RoomContext["meeting"]} meeting */
export function pollsWaitingForMe(meeting) {
  if (meeting.isModerator) return 0;
  return [...meeting.polls.values()].filter((p) => p.status === "open" && p.my_choices.length === 0).length;
}

/** @param {RoomContext} ctx @param {() => HTMLElement} closeBtn */
export function pollsPanel(ctx, closeBtn) {
  const { meeting } = ctx;
  const polls = [...meeting.polls.values()].reverse(); // newest first
  const list = polls.length
    ? h("ol", { class: "poll-list", "aria-label": "Polls" }, ...polls.map((p) => h("li", {}, pollCard(ctx, p))))
    : h("div", { class: "poll-list empty" }, h("p", { class: "muted", text: meeting.isModerator ? "No polls yet. Ask the room a question." : "No polls yet. When a host starts one, it shows here." }));
  return [
    h("div", { class: "side-head" }, h("h2", { text: "Polls" }), closeBtn()),
    meeting.isModerator ? composer(ctx) : null,
    list,
  ].filter((n) => n !== null);
}

/** The moderator's "New poll" form (or the button that opens it). @param {RoomContext} ctx */
function composer(ctx) {
  const { meeting } = ctx;
  if (!drafts.composing) {
    return h("div", { class: "poll-new" }, h("button", { id: "poll-new", class: "btn btn-primary", type: "button", onclick: () => ((drafts.composing = true), ctx.render(), focus("#poll-question")) }, icon("plus"), h("span", { text: "New poll" })));
  }
  const question = /** @type {HTMLInputElement} */ (h("input", { id: "poll-question", type: "text", maxlength: 300, required: true, placeholder: "Ask a question", autocomplete: "off" }));
  question.value = drafts.question;
  question.addEventListener("input", () => (drafts.question = question.value));
  const options = drafts.options.map((text, i) => {
    const input = /** @type {HTMLInputElement} */ (h("input", { id: `poll-option-${i}`, type: "text", maxlength: 100, placeholder: `Option ${i + 1}`, "aria-label": `Option ${i + 1}`, autocomplete: "off" }));
    input.value = text;
    input.addEventListener("input", () => (drafts.options[i] = input.value));
    const remove =
      drafts.options.length > 2
        ? h("button", { class: "btn btn-icon btn-ghost", type: "button", "aria-label": `Remove option ${i + 1}`, onclick: () => (drafts.options.splice(i, 1), ctx.render(), focus(`#poll-option-${Math.max(0, i - 1)}`)) }, icon("x"))
        : null;
    return h("div", { class: "row poll-option-edit" }, input, remove);
  });
  const toggle = (/** @type {"multiple" | "anonymous"} */ key, /** @type {string} */ label) => {
    const box = /** @type {HTMLInputElement} */ (h("input", { id: `poll-${key}`, type: "checkbox", checked: drafts[key] }));
    box.addEventListener("change", () => (drafts[key] = box.checked));
    return h("label", { class: "poll-check", for: `poll-${key}` }, box, h("span", { text: label }));
  };
  const error = h("p", { class: "poll-error", id: "poll-error", role: "alert" });
  const submit = (/** @type {Event} */ e) => {
    e.preventDefault();
    const q = drafts.question.trim();
    const opts = drafts.options.map((o) => o.trim()).filter((o) => o);
    const why = !q ? "Write a question." : opts.length < 2 ? "Give at least two options." : new Set(opts.map((o) => o.toLowerCase())).size < opts.length ? "The options must all be different." : "";
    if (why) {
      error.textContent = why;
      return;
    }
    meeting.send({ type: "poll_create", question: q, options: opts, multiple: drafts.multiple, anonymous: drafts.anonymous });
    Object.assign(drafts, { question: "", options: ["", ""], multiple: false, anonymous: false, composing: false });
    ctx.render();
  };
  return h(
    "form",
    { class: "poll-form", "aria-label": "New poll", onsubmit: submit },
    h("label", { for: "poll-question", class: "small muted", text: "Question" }),
    question,
    h("fieldset", { class: "poll-option-edits" }, h("legend", { class: "small muted", text: "Options" }), ...options),
    drafts.options.length < MAX_OPTIONS ? h("button", { class: "btn btn-small btn-ghost", type: "button", id: "poll-add-option", onclick: () => (drafts.options.push(""), ctx.render(), focus(`#poll-option-${drafts.options.length - 1}`)) }, icon("plus"), h("span", { text: "Add option" })) : null,
    h("div", { class: "poll-checks" }, toggle("multiple", "Allow several choices"), toggle("anonymous", "Anonymous (nobody sees who voted what)")),
    error,
    h("div", { class: "row poll-form-actions" }, h("button", { class: "btn btn-ghost", type: "button", text: "Cancel", onclick: () => ((drafts.composing = false), ctx.render(), focus("#poll-new")) }), h("button", { class: "btn btn-primary", type: "submit", id: "poll-start", text: "Start poll" })),
  );
}

/** One poll: question, the vote (while open), the results (when I may see them), host actions. @param {RoomContext} ctx @param {Poll} p */
function pollCard(ctx, p) {
  const { meeting } = ctx;
  const open = p.status === "open";
  const state = open ? "Open" : p.shared ? "Ended · results shared" : "Ended";
  const kind = `${p.multiple ? "Several choices" : "One choice"}${p.anonymous ? " · anonymous" : ""}`;
  const titleId = `poll-q-${p.poll_id}`;
  return h(
    "article",
    { class: `poll-card${open ? " open" : ""}`, "aria-labelledby": titleId, "data-poll": p.poll_id },
    h("div", { class: "poll-meta small" }, h("span", { class: `pill${open ? " pill-live" : ""}`, text: state }), h("span", { class: "muted", text: kind })),
    h("h3", { class: "poll-question", id: titleId, text: p.question }),
    open ? ballot(ctx, p) : p.my_choices.length ? h("p", { class: "small muted", text: `You chose ${p.my_choices.map((i) => p.options[i]).join(", ")}` }) : null,
    p.results ? results(p) : !open ? h("p", { class: "small muted", text: "The host has not shared the results." }) : null,
    meeting.isModerator ? hostActions(meeting, p) : null,
  );
}

/** The options to tick and the Vote button. @param {RoomContext} ctx @param {Poll} p */
function ballot(ctx, p) {
  const { meeting } = ctx;
  const picked = new Set(drafts.picks.get(p.poll_id) ?? p.my_choices);
  const name = `poll-${p.poll_id}`;
  const choices = p.options.map((text, i) => {
    const box = /** @type {HTMLInputElement} */ (h("input", { type: p.multiple ? "checkbox" : "radio", name, value: String(i), id: `${name}-${i}`, checked: picked.has(i) }));
    // Ticking changes only this card (the browser unticks the other radios): no redraw
    // under the pointer or the keyboard.
    box.addEventListener("change", () => {
      if (!p.multiple) picked.clear();
      if (box.checked) picked.add(i);
      else picked.delete(i);
      drafts.picks.set(p.poll_id, picked);
      sync();
    });
    return h("label", { class: "poll-choice", for: `${name}-${i}` }, box, h("span", { text }));
  });
  const voted = p.my_choices.length > 0;
  const vote = () => {
    meeting.send({ type: "poll_vote", poll_id: p.poll_id, choices: [...picked].sort((a, b) => a - b) });
    drafts.picks.delete(p.poll_id);
  };
  const button = /** @type {HTMLButtonElement} */ (h("button", { class: "btn btn-primary btn-small", type: "button", text: voted ? "Change vote" : "Vote", onclick: vote }));
  // Nothing to send: nothing ticked, or what I already chose.
  const sync = () => (button.disabled = picked.size === 0 || (voted && picked.size === p.my_choices.length && p.my_choices.every((i) => picked.has(i))));
  sync();
  return h(
    "fieldset",
    { class: "poll-ballot" },
    h("legend", { class: "visually-hidden", text: p.question }),
    ...choices,
    h("div", { class: "row poll-vote-row" }, button, voted ? h("span", { class: "small muted", role: "status", text: "Your vote is in" }) : null),
  );
}

/** A bar per option with its count and share of the votes. @param {Poll} p */
function results(p) {
  const r = /** @type {NonNullable<Poll["results"]>} */ (p.results);
  const total = r.counts.reduce((a, b) => a + b, 0);
  const rows = p.options.map((text, i) => {
    const n = r.counts[i] ?? 0;
    const pct = total ? Math.round((n * 100) / total) : 0;
    const who = r.ballots ? r.ballots.filter((b) => b.choices.includes(i)).map((b) => b.display_name) : [];
    return h(
      "li",
      { class: `poll-result${p.my_choices.includes(i) ? " mine" : ""}`, "aria-label": `${text}: ${n} ${n === 1 ? "vote" : "votes"}, ${pct}%` },
      h("div", { class: "poll-result-head" }, h("span", { class: "poll-result-text", text }), h("span", { class: "poll-result-count", text: `${n} · ${pct}%` })),
      // The width goes through the CSSOM (h's style), which the strict CSP allows.
      h("div", { class: "poll-bar", "aria-hidden": "true" }, h("div", { class: "poll-bar-fill", style: `width: ${pct}%` })),
      who.length ? h("p", { class: "poll-voters small muted", text: who.join(", ") }) : null,
    );
  });
  return h("div", { class: "poll-results" }, h("ul", { class: "poll-result-list", "aria-label": "Results" }, ...rows), h("p", { class: "small muted", text: `${r.voters} ${r.voters === 1 ? "person" : "people"} voted` }));
}

/** @param {RoomContext["meeting"]} meeting @param {Poll} p */
function hostActions(meeting, p) {
  if (p.status === "open") return h("div", { class: "row poll-actions" }, h("button", { class: "btn btn-small", type: "button", text: "End poll", onclick: () => meeting.send({ type: "poll_end", poll_id: p.poll_id }) }));
  if (!p.shared) return h("div", { class: "row poll-actions" }, h("button", { class: "btn btn-small btn-primary", type: "button", text: "Share results", onclick: () => meeting.send({ type: "poll_share", poll_id: p.poll_id }) }));
  return null;
}

/** Focuses an element of the panel after it is drawn again. @param {string} selector */
function focus(selector) {
  /** @type {HTMLElement | null} */ (document.querySelector(selector))?.focus();
}
