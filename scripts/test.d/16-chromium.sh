# The web control panel's browser tests (tests/tests/web.rs) drive a real headless Chromium
# through chromedriver: Debian's builds, never a browser downloaded by a test tool.
need_debs chromium chromium-driver
