// The home screen: join by ID, instant meeting, schedule, personal room, upcoming and past.

import { h, mount, brand, icon, toast, copyText, confirmAction, formatWhen, formatDuration, formatMeetingId, initials, colorFor } from "./dom.js";
import { invitation } from "./room/info.js";
import { scheduleDialog, conflictWarning } from "./schedule.js";
import { joinForm, goJoin } from "./joinbox.js";

export { goJoin };

/** @typedef {import("../api.js").Api} Api */
/** @typedef {import("../types.js").Meeting} Meeting */
/** @typedef {import("../types.js").Me} Me */

/** The top bar of signed-in screens. @param {Me} me @param {Api} api @param {string} current */
export function header(me, api, current) {
  const link = (/** @type {string} */ href, /** @type {string} */ text) => h("a", { href, text, class: "nav-link", "aria-current": current === href ? "page" : undefined });
  const avatar = me.avatar_url
    ? h("img", { class: "avatar avatar-sm", src: me.avatar_url, alt: "" })
    : h("span", { class: "avatar avatar-sm", style: `background:${colorFor(me.display_name)}`, text: initials(me.display_name), "aria-hidden": "true" });
  return h(
    "header",
    { class: "topbar" },
    brand(),
    h("nav", { "aria-label": "Main" }, link("#/", "Meetings"), link("#/recordings", "Recordings"), link("#/settings", "Settings")),
    h(
      "div",
      { class: "topbar-user" },
      avatar,
      h("span", { class: "topbar-name", text: me.display_name }),
      h("button", { class: "btn btn-ghost btn-small", text: "Sign out", onclick: async () => (await api.logout(), (location.hash = "#/signin")) }),
    ),
  );
}

/**
 * Shown while my address is unconfirmed: why it matters, and a way to get the link again.
 * @param {Api} api @param {Me} me
 */
export function verifyBanner(api, me) {
  if (me.email_verified !== false) return null;
  const status = h("span", { role: "status" });
  const resend = /** @type {HTMLButtonElement} */ (h("button", { class: "btn btn-small", type: "button", text: "Resend the link" }));
  resend.addEventListener("click", async () => {
    resend.disabled = true;
    try {
      status.textContent = (await api.resendVerification()).message;
    } catch (err) {
      status.textContent = err instanceof Error ? err.message : String(err);
      resend.disabled = false;
    }
  });
  return h(
    "section",
    { class: "banner banner-warning verify-banner", "aria-labelledby": "verify-title" },
    h("strong", { id: "verify-title", text: "Confirm your e-mail address" }),
    h("p", { text: `We sent a link to ${me.email}. Until you open it, invitations sent to this address do not show up here and you cannot invite others.` }),
    h("div", { class: "row" }, resend, status),
  );
}

/** The path of a join_url, so links work whatever public_url says. @param {string} url */
function localJoin(url) {
  const u = new URL(url, location.origin);
  return `${location.origin}${u.pathname}${u.search}`;
}

/** @param {Api} api @param {Me} me */
export async function showHome(api, me) {
  const banners = h("div", { class: "banners", "aria-live": "polite" });
  const upcoming = h("div", { class: "list", id: "upcoming", "aria-busy": "true" });
  const past = h("div", { class: "list", id: "history", hidden: true });
  const tabUp = h("button", { class: "tab", role: "tab", "aria-selected": "true", "aria-controls": "upcoming", text: "Upcoming" });
  const tabPast = h("button", { class: "tab", role: "tab", "aria-selected": "false", "aria-controls": "history", text: "History" });
  const selectTab = (/** @type {boolean} */ showPast) => {
    tabUp.setAttribute("aria-selected", String(!showPast));
    tabPast.setAttribute("aria-selected", String(showPast));
    upcoming.hidden = showPast;
    past.hidden = !showPast;
    if (showPast) loadPast();
  };
  tabUp.addEventListener("click", () => selectTab(false));
  tabPast.addEventListener("click", () => selectTab(true));

  const refresh = async () => {
    try {
      const [live, next] = await Promise.all([api.meetings("live"), api.meetings("upcoming")]);
      const seen = new Set();
      const items = [...live.items, ...next.items].filter((m) => !seen.has(m.meeting_id) && seen.add(m.meeting_id));
      upcoming.replaceChildren(...(items.length ? items.map((m) => meetingRow(m)) : [empty("No upcoming meetings", "Schedule one, or start an instant meeting.")]));
    } catch (err) {
      upcoming.replaceChildren(empty("Could not load meetings", err instanceof Error ? err.message : ""));
    }
    upcoming.removeAttribute("aria-busy");
  };

  const loadPast = async () => {
    past.replaceChildren(h("p", { class: "muted pad", text: "Loading…" }));
    try {
      const r = await api.meetings("past");
      past.replaceChildren(...(r.items.length ? r.items.map((m) => pastRow(m)) : [empty("No past meetings yet", "Meetings you hosted or attended show up here.")]));
    } catch (err) {
      past.replaceChildren(empty("Could not load history", err instanceof Error ? err.message : ""));
    }
  };

  /** @param {Meeting} m */
  const meetingRow = (m) => {
    const live = m.status === "live" || m.status === "started";
    const mine = m.host_id === me.user_id;
    const date = new Date(m.start_time);
    return h(
      "article",
      { class: "meeting", "data-meeting-id": m.meeting_id },
      h("div", { class: "meeting-date", "aria-hidden": "true" }, h("span", { class: "meeting-day", text: String(date.getDate()) }), h("span", { text: date.toLocaleString(undefined, { month: "short" }) })),
      h(
        "div",
        { class: "meeting-main" },
        h("h3", {}, m.title, live ? h("span", { class: "pill pill-live", text: "Live" }) : null, m.recurrence ? h("span", { class: "pill", text: "Recurring" }) : null),
        h("p", { class: "muted", text: `${formatWhen(m.start_time)} · ${m.duration_minutes} min${m.host_name && !mine ? ` · hosted by ${m.host_name}` : ""}` }),
        codes(m.meeting_id, m.passcode),
      ),
      h(
        "div",
        { class: "meeting-actions" },
        h("button", { class: "btn btn-primary btn-small", text: mine ? "Start" : "Join", onclick: () => goJoin(m.meeting_id, m.passcode) }),
        h("button", { class: "btn btn-icon", title: "Copy invitation (link, ID and passcode)", "aria-label": `Copy invitation for ${m.title}`, onclick: () => copyText(invitation(m.title, localJoin(m.join_url), m.meeting_id, m.passcode)) }, icon("copy")),
        mine ? h("button", { class: "btn btn-small", text: "Edit", onclick: () => edit(m) }) : null,
        mine ? h("button", { class: "btn btn-small btn-danger-ghost", text: "Cancel", onclick: () => cancel(m) }) : null,
      ),
    );
  };

  /** The live-captions transcript of a past meeting: shown on demand, downloadable as WebVTT. @param {Meeting} m */
  const transcriptToggle = (m) => {
    const panel = h("div", { class: "transcript", hidden: true, "data-testid": "transcript" });
    const button = h("button", { class: "btn btn-small", "aria-expanded": "false", text: "Transcript" });
    const download = async () => {
      try {
        const blob = await api.transcriptFile(m.meeting_id, "vtt");
        const a = h("a", { href: URL.createObjectURL(blob), download: `meeting-${m.meeting_id}-transcript.vtt` });
        a.click();
        setTimeout(() => URL.revokeObjectURL(/** @type {HTMLAnchorElement} */ (a).href), 10_000);
      } catch (err) {
        toast(err instanceof Error ? err.message : "Could not download the transcript", "error");
      }
    };
    button.addEventListener("click", async () => {
      const open = panel.hidden;
      panel.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      if (!open || panel.childElementCount) return;
      try {
        const t = await api.transcript(m.meeting_id);
        panel.replaceChildren(
          h("ol", { class: "transcript-lines" }, ...t.lines.map((l) => h("li", {}, h("strong", { text: `${l.speaker}: ` }), l.text))),
          h("button", { class: "btn btn-small", type: "button", text: "Download WebVTT", onclick: download }),
        );
      } catch (err) {
        const none = err instanceof Error && "code" in err && err.code === "no_transcript";
        panel.replaceChildren(h("p", { class: none ? "muted" : "form-error", text: none ? "Nothing was captioned in this meeting." : err instanceof Error ? err.message : "" }));
      }
    });
    return { button, panel };
  };

  /** @param {Meeting} m */
  const pastRow = (m) => {
    const details = h("div", { class: "attendance", hidden: true });
    const toggle = h("button", { class: "btn btn-small", "aria-expanded": "false", text: `Attendance (${m.attendee_count ?? 0})` });
    toggle.addEventListener("click", async () => {
      const open = details.hidden;
      details.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (!open || details.childElementCount) return;
      try {
        const rows = await api.attendance(m.meeting_id);
        details.replaceChildren(
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", { text: "Who" }), h("th", { text: "Role" }), h("th", { text: "Joined" }), h("th", { text: "Time" }))),
            h("tbody", {}, ...rows.map((a) => h("tr", {}, h("td", { text: a.display_name }), h("td", { text: a.role }), h("td", { text: formatWhen(a.joined_at) }), h("td", { text: formatDuration(a.duration_seconds) })))),
          ),
        );
      } catch (err) {
        details.replaceChildren(h("p", { class: "form-error", text: err instanceof Error ? err.message : "" }));
      }
    });
    const transcript = transcriptToggle(m);
    return h(
      "article",
      { class: "meeting meeting-past" },
      h("div", { class: "meeting-main" }, h("h3", { text: m.title }), h("p", { class: "muted", text: `${formatWhen(m.started_at ?? m.start_time)} · ${m.status} · ID ${formatMeetingId(m.meeting_id)}` })),
      h("div", { class: "meeting-actions" }, toggle, transcript.button),
      details,
      transcript.panel,
    );
  };

  /** @param {Meeting} saved */
  const announce = (saved) => {
    const warn = conflictWarning(saved);
    banners.replaceChildren(...(warn ? [warn] : []));
    refresh();
  };
  const schedule = async () => {
    const saved = await scheduleDialog(api, null, !!me.e2ee_default);
    if (saved) {
      toast(`Scheduled “${saved.title}”`, "success");
      announce(saved);
    }
  };
  /** @param {Meeting} m */
  const edit = async (m) => {
    const saved = await scheduleDialog(api, m);
    if (saved) {
      toast("Meeting updated", "success");
      announce(saved);
    }
  };
  /** @param {Meeting} m */
  const cancel = async (m) => {
    if (!(await confirmAction(`Cancel “${m.title}”?`, "Cancel meeting", "Invitees will be told."))) return;
    try {
      await api.cancelMeeting(m.meeting_id);
      toast("Meeting cancelled", "info");
      refresh();
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
  };
  const instant = async () => {
    try {
      const m = await api.createMeeting({ title: `${me.display_name}'s meeting` });
      goJoin(m.meeting_id, m.passcode);
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), "error");
    }
  };

  const joinBox = joinForm({ withPasscode: true });

  const personal = h("div", { class: "personal" }, h("p", { class: "muted", text: "Loading…" }));
  api.personalMeeting().then(
    (p) =>
      personal.replaceChildren(
        codes(p.meeting_id, p.passcode),
        h(
          "div",
          { class: "row" },
          h("button", { class: "btn btn-small", text: "Start", onclick: () => goJoin(p.meeting_id, p.passcode) }),
          h("button", { class: "btn btn-small", onclick: () => copyText(invitation(p.title, localJoin(p.join_url), p.meeting_id, p.passcode)) }, icon("copy"), "Copy invitation"),
        ),
      ),
    () => personal.replaceChildren(h("p", { class: "muted", text: "Unavailable" })),
  );

  const hello = new Date().getHours() < 12 ? "Good morning" : new Date().getHours() < 18 ? "Good afternoon" : "Good evening";
  mount(
    header(me, api, "#/"),
    h(
      "main",
      { class: "page home", id: "main" },
      h("h1", { class: "page-title", text: `${hello}, ${me.display_name.split(" ")[0]}` }),
      verifyBanner(api, me),
      banners,
      h(
        "div",
        { class: "home-grid" },
        h(
          "aside",
          { class: "home-side" },
          h(
            "section",
            { class: "card actions" },
            h("button", { class: "action action-primary", onclick: instant }, icon("video"), h("span", {}, h("strong", { text: "New meeting" }), h("small", { text: "Start an instant meeting" }))),
            h("button", { class: "action", onclick: schedule }, icon("calendar"), h("span", {}, h("strong", { text: "Schedule" }), h("small", { text: "Plan a meeting and invite people" }))),
          ),
          h("section", { class: "card", "aria-labelledby": "join-title" }, h("h2", { id: "join-title", text: "Join a meeting" }), joinBox),
          h("section", { class: "card", "aria-labelledby": "pmr-title" }, h("h2", { id: "pmr-title", text: "My personal room" }), personal),
        ),
        h("section", { class: "card home-list" }, h("div", { class: "tabs", role: "tablist" }, tabUp, tabPast), upcoming, past),
      ),
    ),
  );
  await refresh();
}

/** @param {string} title @param {string} text */
function empty(title, text) {
  return h("div", { class: "empty" }, h("strong", { text: title }), h("p", { class: "muted", text }));
}

/** A meeting's ID and passcode, each selectable with one click. @param {number} id @param {string} passcode */
function codes(id, passcode) {
  return h(
    "p",
    { class: "meeting-codes" },
    h("span", { class: "muted", text: "ID " }),
    h("span", { class: "code", "data-code": "id", text: formatMeetingId(id) }),
    passcode ? h("span", { class: "muted", text: " · Passcode " }) : null,
    passcode ? h("span", { class: "code", "data-code": "passcode", text: passcode }) : null,
  );
}
