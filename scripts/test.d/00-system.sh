# Sourced by scripts/test before the build: helpers for the system parts some tests need
# (Debian packages, private daemons). Each feature adds its own numbered file beside this
# one that calls them; CI runs on a clean clone, so everything a test needs is installed here.

_apt_updated=0
# need_debs PKG...: installs the Debian packages that are missing (as root; apt's lock is
# waited for, so two runs on one machine do not fail each other).
need_debs() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them first)" >&2
    return 1
  fi
  if [ "$_apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    _apt_updated=1
  fi
  echo "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}

# on_exit CMD: runs CMD when scripts/test ends (daemons the setup started are stopped).
_on_exit=()
on_exit() { _on_exit+=("$1"); }
_run_on_exit() {
  local i
  for ((i = ${#_on_exit[@]} - 1; i >= 0; i--)); do eval "${_on_exit[$i]}" || true; done
}
trap _run_on_exit EXIT
