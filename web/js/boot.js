// The page's first script, a classic one that loads before the app's modules: when those
// cannot all be fetched (the device changed networks mid-load, a proxy cut a file, offline
// before the service worker kept them), the browser runs none of them and the page would stay
// blank. It says what happened instead and offers a reload.

(() => {
  let told = false;

  function tell() {
    if (told) return;
    told = true;
    const show = () => {
      const app = document.getElementById("app");
      // The app started after all (a second module script that failed was not the app).
      if (!app || app.childElementCount > 0) return;
      const box = document.createElement("section");
      box.className = "card boot-failed";
      box.setAttribute("role", "alert");
      box.setAttribute("aria-labelledby", "boot-failed-title");
      const title = document.createElement("h1");
      title.id = "boot-failed-title";
      title.textContent = "Convene didn't finish loading";
      const why = document.createElement("p");
      why.className = "muted";
      why.textContent = "Part of the app could not be downloaded — the connection may have dropped or changed while the page loaded. Check your connection and try again.";
      const reload = document.createElement("button");
      reload.type = "button";
      reload.className = "btn btn-primary";
      reload.textContent = "Reload";
      reload.addEventListener("click", () => location.reload());
      box.append(title, why, reload);
      app.replaceChildren(box);
      reload.focus();
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", show, { once: true });
    else show();
  }

  // A module graph that failed to fetch fires `error` on its <script> element; such events do
  // not bubble, so they are caught on the way down.
  window.addEventListener(
    "error",
    (e) => {
      const target = e.target;
      if (target instanceof HTMLScriptElement && target.type === "module") tell();
    },
    true,
  );
})();
