# shellcheck shell=bash
# clickhouse.sh - starts and stops a private clickhouse-server for a test or a bench.
#
# Source it, then:
#   ch_find || exit 77              sets ch_server (the command), or fails when none
#   ch_start DIR [HTTP TCP INTER [XML]]
#                                   starts a server on 127.0.0.1 with its config, data, tmp and
#                                   logs in DIR (free ports for HTTP, TCP and interserver unless
#                                   given, a small mark cache, XML added to its config: e.g.
#                                   remote_servers); sets ch_pid and ch_http; returns 1 when it
#                                   does not answer /ping within 30 s
#   ch_stop                         stops it by its PID (TERM, then KILL after 10 s)
# Works with Debian's clickhouse-server 18.16 (/usr/sbin/clickhouse-server).

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

ch_server=""
ch_pid=""
ch_http=""

ch_find() {
	local c
	for c in /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
		[ -x "$c" ] && ch_server=$c && return 0
	done
	[ -x /usr/bin/clickhouse ] && ch_server="/usr/bin/clickhouse server" && return 0
	return 1
}

# A port nothing listens on (tests/lib/ports.sh).
ch_free_port() { free_port; }

ch_start() {
	local dir=$1 tcp=${3:-} inter=${4:-} extra=${5:-}
	if [ -n "${2:-}" ]; then
		ch_http=$2
	else
		ch_http=$(ch_free_port) && tcp=$(ch_free_port) && inter=$(ch_free_port) || return 1
	fi
	mkdir -p "$dir/data" "$dir/tmp" "$dir/log" "$dir/user_files" "$dir/schemas"
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog><console>0</console></logger>
  <http_port>$ch_http</http_port>
  <tcp_port>$tcp</tcp_port>
  <interserver_http_port>$inter</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <listen_host>127.0.0.1</listen_host>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>16</max_concurrent_queries>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  $extra
</yandex>
EOF
	cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
EOF
	# shellcheck disable=SC2086
	$ch_server --config-file="$dir/config.xml" >"$dir/log/stdout" 2>&1 &
	ch_pid=$!
	for _ in $(seq 1 300); do
		curl -sf "http://127.0.0.1:$ch_http/ping" >/dev/null 2>&1 && return 0
		kill -0 "$ch_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "clickhouse-server did not answer on port $ch_http:" >&2
	tail -20 "$dir/log/error.log" "$dir/log/stdout" >&2 2>/dev/null
	return 1
}

ch_stop() {
	[ -n "$ch_pid" ] || return 0
	kill "$ch_pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$ch_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$ch_pid" 2>/dev/null
	wait "$ch_pid" 2>/dev/null
	ch_pid=""
}
