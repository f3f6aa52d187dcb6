// Remote audio under autoplay rules. Safari (and Chromium or Firefox set to block autoplay)
// refuses to start audio before the person has interacted with the page; a meeting joined
// without a click (a resumed seat after a reload, an auto-join link) would then be silent
// without saying so. Whether playback is allowed is found out the only reliable way — by
// trying: when `play()` is refused with NotAllowedError, a button "Click to enable audio"
// appears, and clicking it (a user gesture) starts every remote audio element that waits.

import { h } from "./dom.js";

/** The button while some audio waits for a gesture. @type {HTMLButtonElement | null} */
let button = null;

/**
 * Starts a remote audio element; if the browser wants a gesture first, shows the button.
 * @param {HTMLAudioElement} el
 */
export function playRemoteAudio(el) {
  el.play().catch((/** @type {unknown} */ err) => {
    if (err instanceof DOMException && err.name === "NotAllowedError") offerButton(el.parentElement);
  });
}

/** @param {Element | null} container the element holding the remote audio elements */
function offerButton(container) {
  if (button?.isConnected || !container) return;
  const b = /** @type {HTMLButtonElement} */ (
    h("button", {
      type: "button",
      id: "enable-audio",
      class: "btn btn-primary",
      text: "Click to enable audio",
      title: "Your browser needs a click before it plays the others' sound",
      style: "position: fixed; left: 50%; bottom: 6rem; transform: translateX(-50%); z-index: 50; box-shadow: 0 4px 16px rgba(0,0,0,.35)",
      onclick: () => {
        const waiting = [...container.querySelectorAll("audio")].filter((a) => a.paused);
        Promise.all(waiting.map((a) => a.play()))
          .then(() => b.remove())
          .catch(() => {
            b.textContent = "Audio is still blocked: allow sound for this site in the browser's settings";
          });
      },
    })
  );
  button = b;
  document.body.append(b);
}

/** Takes the button away (the room closed). */
export function dropAudioButton() {
  button?.remove();
  button = null;
}
