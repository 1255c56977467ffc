# The tray's tests (tests/tests/tray.rs) start their own private session bus with
# `dbus-daemon --session` and play the desktop on it; each test stops its bus.
need_debs dbus
