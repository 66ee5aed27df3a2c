#!/bin/sh
# Installs the test peers the integration tests drive: nginx, apache2,
# lighttpd, fcgiwrap, cgi-fcgi (libfcgi-bin), php-cgi, php-fpm and git;
# with the argument "bench", also what the benchmarks need: wrk and musl-gcc
# (musl-tools).
# Uses apt-get when run as root; otherwise says what is missing and how to
# install it. Installed services are not left running: the tests start their
# own instances.
set -eu

missing=""
need() { # need PACKAGE FILE
	[ -e "$2" ] || missing="$missing $1"
}
need nginx /usr/sbin/nginx
need apache2 /usr/sbin/apache2
need lighttpd /usr/sbin/lighttpd
need fcgiwrap /usr/sbin/fcgiwrap
need libfcgi-bin /usr/bin/cgi-fcgi
need php-cgi /usr/bin/php-cgi
# php-fpm is installed under a versioned name only (php-fpm8.2 on bookworm).
fpm=/usr/sbin/php-fpm
for f in /usr/sbin/php-fpm[0-9]*; do fpm=$f; done
need php-fpm "$fpm"
need git /usr/bin/git
if [ "${1:-}" = bench ]; then
	need wrk /usr/bin/wrk
	need musl-tools /usr/bin/musl-gcc
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "integration tests need:$missing" >&2
	echo "install them with: sudo apt-get install$missing" >&2
	echo "(or run the unit tests only: go test ./...)" >&2
	exit 1
fi

echo "installing test peers:$missing"
export DEBIAN_FRONTEND=noninteractive
# Keep package scripts from starting the daemons they install.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
