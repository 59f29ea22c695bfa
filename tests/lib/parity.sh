# shellcheck shell=bash
# parity.sh - what the ClickHouse parity tests share: the same data ingested into SQLite and
# into ClickHouse, and every verb's --json output compared. Source it after setting:
#   bin          the sonde executable
#   work         a scratch directory
#   sq           the SQLite store
#   parity_dbs   an array of the ClickHouse URIs to compare with SQLite
#   fail         a function that counts a failure and prints its message
#
#   parity_ingest_twice INPUT...   ingests into $sq and ${parity_dbs[0]}, then again: the
#                                  second time adds nothing; both report the same counts
#   same NAME ARGS...              `sonde ARGS --db DB` exits the same and prints the same
#                                  bytes on SQLite and on every parity_dbs URI
#   parity_verbs LIMIT             `same` over the investigation verbs on the parity data
#                                  (traces listed up to LIMIT)
#   info_norm FILE                 `db info --json` without the fields that name the backend

parity_ingest_twice() {
	local db rc
	for db in "$sq" "${parity_dbs[0]}"; do
		"$bin" ingest --db "$db" "$@" >"$work/ingest1.out" 2>"$work/ingest1.err"
		rc=$?
		[ "$rc" = 0 ] || [ "$rc" = 2 ] || fail "ingest into $db exits $rc: $(cat "$work/ingest1.err")"
		grep -E '^  (spans|log records|metric points) ' "$work/ingest1.out" >"$work/added.$([ "$db" = "$sq" ] && echo s || echo c)"
		"$bin" ingest --db "$db" "$@" >"$work/ingest2.out" 2>/dev/null
		grep -Eq '^  spans +0 added' "$work/ingest2.out" || fail "second ingest into $db added spans"
		grep -Eq '^  log records +0 added' "$work/ingest2.out" || fail "second ingest into $db added logs"
		grep -Eq '^  metric points +0 added' "$work/ingest2.out" || fail "second ingest into $db added points"
	done
	cmp -s "$work/added.s" "$work/added.c" || fail "ingest counts differ: $(diff "$work/added.s" "$work/added.c")"
	grep -Eq '^  spans +[1-9][0-9]* added' "$work/added.c" || fail "nothing was ingested into ClickHouse"
}

same() {
	local name=$1 db ra rb
	shift
	"$bin" "$@" --db "$sq" >"$work/a.json" 2>"$work/a.err"
	ra=$?
	for db in "${parity_dbs[@]}"; do
		"$bin" "$@" --db "$db" >"$work/b.json" 2>"$work/b.err"
		rb=$?
		if [ "$ra" != "$rb" ]; then
			fail "$name: exit $ra on SQLite, $rb on $db: $(head -c 300 "$work/b.err")"
		elif ! cmp -s "$work/a.json" "$work/b.json"; then
			fail "$name: outputs differ on $db"
			diff <(tr ',' '\n' <"$work/a.json") <(tr ',' '\n' <"$work/b.json") | head -10
		elif [ ! -s "$work/a.json" ]; then
			fail "$name: no output"
		fi
	done
}

parity_verbs() {
	local limit=$1
	same "traces" traces --json --limit "$limit"
	same "traces by duration" traces --json --sort duration
	same "traces with errors" traces --json --error
	same "traces of a service" traces --json --service orders-worker
	same "traces by minimum duration" traces --json --min-duration 120ms
	same "traces by attribute" traces --json --attr db.system=postgresql
	same "traces since" traces --json --since 2023-11-14T22:14:00Z
	same "latency" latency --json
	same "latency by operation of a service" latency --json --by operation --service backend
	same "latency by attribute" latency --json --by db.system
	same "latency of errors" latency --json --error
	same "queries" queries --json --slow 8ms
}

info_norm() { sed -E 's/"(db|backend|schema_version|size_bytes|wal_bytes)":("[^"]*"|[0-9]+),?//g' "$1"; }
