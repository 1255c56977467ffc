// main.js: the panel starts — the page at once, what the gates allow as soon as the proxy
// says (until then no control that changes anything is offered), then the live events.

function start() {
  performance.mark("mcpproxy:script");
  app.view = $("#main");
  interceptLinks();
  render({ focus: false });
  loadStatus();
  startLive();
}

// The page came drawn (the top bar, the dashboard's structure): let the browser paint it
// before the script builds anything (a frame, then a task after it).
const afterFirstPaint = () => requestAnimationFrame(() => setTimeout(start, 0));
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", afterFirstPaint);
else afterFirstPaint();
