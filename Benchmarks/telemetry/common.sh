# Helpers the telemetry benchmark scripts share; sourced, not run.
# The median of the numbers on standard input, one a line.
median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
# The highest BPF program id loaded now (0: none): programs loaded after it are the caller's.
newest_program_id() { bpftool -j prog show | python3 -c 'import json, sys; print(max((p["id"] for p in json.load(sys.stdin)), default=0))'; }
# Runs a command inside the cgroup v2 directory "$tenant".
in_tenant() { sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$tenant" "$@"; }
