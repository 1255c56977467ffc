// main.js: the panel starts — what the gates allow first (so no control is offered that
// would be refused), then the page, then the live events.

async function start() {
  app.view = $("#main");
  interceptLinks();
  await loadStatus();
  render({ focus: false });
  startLive();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
