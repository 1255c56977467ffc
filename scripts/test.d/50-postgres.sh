# PostgreSQL for the team storage (issue 23): Debian's server programs. The tests start
# their own private server with initdb and pg_ctl in a temp directory, on a free port of
# 127.0.0.1, as the unprivileged user `nobody` when run as root, and stop it when they end
# (tests/postgres). Nothing runs as a system service.
need_debs postgresql
