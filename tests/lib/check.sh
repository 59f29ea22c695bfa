# check.sh - the checks the shell tests share; source it after setting $tmp (a scratch
# directory). Counts go to $pass and $fail; end a test with `[ $fail = 0 ]`.
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
	echo "FAIL: $*" >&2
	fail=$((fail + 1))
}
# expect NAME WANT GOT: GOT is exactly WANT.
expect() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$3', want '$2'"; fi; }
# has FILE PATTERN NAME: FILE has a line matching the extended regex PATTERN.
has() {
	if grep -Eq -- "$2" "$1"; then ok; else bad "$3: no line matches /$2/ in $(head -c 800 "$1")"; fi
}
# expect_exit NAME CODE STDERR_PATTERN COMMAND...
expect_exit() {
	local name=$1 code=$2 pattern=$3
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" != "$code" ]; then
		bad "$name: exit $rc, expected $code; stderr: $(head -3 "$tmp/err")"
	elif [ -n "$pattern" ] && ! grep -Eq -- "$pattern" "$tmp/err"; then
		bad "$name: stderr does not match /$pattern/: $(head -3 "$tmp/err")"
	else
		ok
	fi
}
