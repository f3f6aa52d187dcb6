// The sign-in, sign-up, forgot-password and reset-password screens.

import { h, mount, field, brand, showError, toast } from "./dom.js";
import { joinForm } from "./joinbox.js";

/** @typedef {import("../api.js").Api} Api */

/**
 * A centred card with the brand above it.
 * @param {string} title @param {string} subtitle @param {...Node} body
 */
function card(title, subtitle, ...body) {
  return h(
    "div",
    { class: "auth" },
    h("div", { class: "auth-brand" }, brand()),
    h("section", { class: "card auth-card", "aria-labelledby": "auth-title" }, h("h1", { id: "auth-title", text: title }), h("p", { class: "muted", text: subtitle }), ...body),
  );
}

/**
 * Wires a form: disables the button while `action` runs, shows its error.
 * @param {HTMLFormElement} form @param {() => Promise<void>} action
 */
function submitting(form, action) {
  const error = /** @type {HTMLElement} */ (form.querySelector(".form-error"));
  const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(error, "");
    button.disabled = true;
    try {
      await action();
    } catch (err) {
      showError(error, err instanceof Error ? err.message : String(err));
    } finally {
      button.disabled = false;
    }
  });
}

const errorLine = () => h("p", { class: "form-error", role: "alert", hidden: true });

/** @param {Api} api @param {() => void} done */
export function showSignIn(api, done) {
  const login = h("input", { id: "login", name: "email", type: "text", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "stack" },
      field("E-mail or username", login),
      field("Password", password),
      errorLine(),
      h("button", { class: "btn btn-primary btn-block", type: "submit", text: "Sign in" }),
      h("p", { class: "auth-links" }, h("a", { href: "#/forgot", text: "Forgot password?" }), h("a", { href: "#/signup", text: "Create an account" })),
    )
  );
  submitting(form, async () => {
    await api.login(/** @type {HTMLInputElement} */ (login).value.trim(), /** @type {HTMLInputElement} */ (password).value);
    done();
  });
  // Signed out, `/` lands here: joining by code or link needs no account (Meet's landing).
  const join = h("section", { class: "card auth-card join-card", "aria-labelledby": "join-title" }, h("h2", { id: "join-title", text: "Join a meeting" }), h("p", { class: "muted", text: "No account needed when the host allows guests." }), joinForm({ label: "Enter a code or link" }));
  const signIn = card("Sign in", "Welcome back. Meetings, scheduling and your personal room are one step away.", form);
  signIn.querySelector(".auth-card")?.after(join);
  signIn.classList.add("auth-landing");
  mount(signIn);
}

/** @param {Api} api @param {() => void} done */
export function showSignUp(api, done) {
  const name = h("input", { id: "display-name", type: "text", autocomplete: "name", required: true, autofocus: true });
  const username = h("input", { id: "username", type: "text", autocomplete: "username", required: true, pattern: "[A-Za-z0-9_.\\-]{3,32}" });
  const email = h("input", { id: "email", type: "email", autocomplete: "email", required: true });
  const password = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "stack" },
      field("Your name", name),
      field("Username", username, "3–32 letters, digits, dots, dashes or underscores"),
      field("E-mail", email),
      field("Password", password, "At least 10 characters"),
      errorLine(),
      h("button", { class: "btn btn-primary btn-block", type: "submit", text: "Create account" }),
      h("p", { class: "auth-links" }, h("span", { text: "Already have an account?" }), h("a", { href: "#/signin", text: "Sign in" })),
    )
  );
  const v = (/** @type {HTMLElement} */ el) => /** @type {HTMLInputElement} */ (el).value.trim();
  submitting(form, async () => {
    const signedIn = await api.register({ display_name: v(name), username: v(username), email: v(email), password: /** @type {HTMLInputElement} */ (password).value });
    // A server's first account is verified at once: no mail to wait for.
    if (signedIn && (await api.me()).email_verified) return done();
    checkYourMail(v(email), signedIn, done);
  });
  mount(card("Create your account", "Host meetings, schedule with invites and get a personal room.", form));
}

/**
 * After registering: the address gets a link to confirm it. The account works already, but
 * invitations to the address show up only once it is confirmed.
 * @param {string} email @param {boolean} signedIn @param {() => void} done
 */
function checkYourMail(email, signedIn, done) {
  const next = signedIn
    ? h("button", { class: "btn btn-primary btn-block", type: "button", text: "Continue to Convene", autofocus: true, onclick: done })
    : h("a", { class: "btn btn-primary btn-block", href: "#/signin", text: "Sign in" });
  mount(
    card(
      "Check your mail",
      `We sent a link to ${email}. Open it to confirm your address.`,
      h("p", { class: "notice", role: "status", text: "Until you confirm it, invitations sent to this address do not show up in your account and you cannot invite others." }),
      next,
    ),
  );
}

/**
 * The page the link in the verification mail opens.
 * @param {Api} api @param {string} token
 */
export async function showVerify(api, token) {
  const status = h("p", { class: "notice", role: "status", text: "Confirming your address…" });
  const next = h("a", { class: "btn btn-primary btn-block", href: api.signedIn ? "#/" : "#/signin", text: api.signedIn ? "Go to your meetings" : "Sign in", hidden: true });
  mount(card("Confirm your e-mail address", "One moment.", status, next));
  try {
    await api.verifyEmail(token);
    status.textContent = "Your e-mail address is confirmed. Invitations sent to it now show up in your account.";
    status.className = "notice notice-success";
  } catch (err) {
    status.textContent = err instanceof Error ? err.message : String(err);
    status.className = "form-error";
    status.setAttribute("role", "alert");
  }
  next.hidden = false;
}

/** @param {Api} api */
export function showForgot(api) {
  const email = h("input", { id: "email", type: "email", autocomplete: "email", required: true, autofocus: true });
  const form = /** @type {HTMLFormElement} */ (
    h(
      "form",
      { class: "stack" },
      field("E-mail", email),
      errorLine(),
      h("button", { class: "btn btn-primary btn-block", type: "submit", text: "Send reset link" }),
      h("p", { class: "auth-links" }, h("a", { href: "#/signin", text: "Back to sign in" })),
    )
  );
  submitting(form, async () => {
    await api.requestReset(/** @type {HTMLInputElement} */ (email).value.trim());
    form.replaceWith(h("p", { class: "notice", role: "status", text: "If an account has that address, a reset link is on its way. Check your inbox." }));
  });
  mount(card("Reset your password", "We'll e-mail you a link to choose a new one.", form));
}

/** @param {Api} api @param {string} token */
export function showReset(api, token) {
  const password = h("input", { id: "new-password", type: "password", autocomplete: "new-password", required: true, minlength: 10, autofocus: true });
  const form = /** @type {HTMLFormElement} */ (
    h("form", { class: "stack" }, field("New password", password, "At least 10 characters"), errorLine(), h("button", { class: "btn btn-primary btn-block", type: "submit", text: "Set new password" }))
  );
  submitting(form, async () => {
    await api.confirmReset(token, /** @type {HTMLInputElement} */ (password).value);
    toast("Password changed. Sign in with your new password.", "success");
    location.hash = "#/signin";
  });
  mount(card("Choose a new password", token ? "Your reset link is valid for a short time." : "This link has no token; ask for a new one.", form));
}
