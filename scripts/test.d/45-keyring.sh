# Keyring secrets (issue 18): the tests run a real Secret Service — gnome-keyring-daemon on a
# private D-Bus session bus that each test starts and stops itself (tests/src/keyring.rs).
# secret-tool lets a test read an item back the way other programs (the Go proxy) do.
need_debs dbus-daemon dbus-bin gnome-keyring libsecret-tools
