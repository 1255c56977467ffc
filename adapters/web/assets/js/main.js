// main.js: the panel starts — the page at once, what the gates allow as soon as the proxy
// says (until then no control that changes anything is offered), then the live events.

function start() {
  app.view = $("#main");
  interceptLinks();
  render({ focus: false });
  loadStatus();
  startLive();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
