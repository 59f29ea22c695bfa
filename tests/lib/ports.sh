# shellcheck shell=bash
# ports.sh - free_port: a loopback port nothing listens on, for a server a test starts.
#
# It is taken below the kernel's ephemeral range: a port inside it can be taken, between
# this check and the server's bind, as the local end of some other test's connection
# (serve_test makes thousands), and the server then fails with EADDRINUSE.
free_port() {
	local p lo=32768
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	[ "$lo" -gt 12000 ] || lo=32768
	for _ in $(seq 1 200); do
		p=$((10000 + RANDOM % (lo - 10000)))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
	done
	return 1
}
