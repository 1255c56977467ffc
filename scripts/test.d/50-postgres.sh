# PostgreSQL for the team storage (issue 23): Debian's server programs. The tests start
# their own private server with initdb and pg_ctl in a temp directory, on a free port of
# 127.0.0.1, as the unprivileged user `nobody` when run as root, and stop it when they end
# (tests/postgres). Nothing runs as a system service.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL's initdb is missing: run as root, or install Debian's postgresql first" >&2
    return 1
  fi
  echo "installing: postgresql"
  # The package lists are refreshed only when the install cannot find the package.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends postgresql >/dev/null ||
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends postgresql >/dev/null; }
fi
