# bash completion for olm (overlayman)                     -*- shell-script -*-
#
# Installed as /usr/share/bash-completion/completions/olm. Needs bash 4; does
# not need the bash-completion package.
#
# Completes commands, the options of each command, overlay names (after
# "::" and for "olm overlays"), package names of the cached overlays ("olm
# add"), requested packages ("olm remove") and what the repository holds
# ("olm why"). Names come from "olm __complete KIND" when this olm has it;
# otherwise from the ordinary commands (overlays -p, search, list --json) and
# the packages.d files. Overlay and package lists are remembered for two
# minutes, since each asks node to start.

_olm_commands='add remove sync list why overlays search status info help'
_olm_global_opts='--root --pretend -p --quiet -q --verbose -v --jobs --help -h'
declare -A _olm_memo=() _olm_memo_at=()

# Options that take a value, so the next word is not a command or argument.
_olm_takes_value() { [[ $1 == --root || $1 == --jobs ]]; }

_olm_command_opts() {
	case $1 in
	'') echo --version ;;
	add | remove) echo --no-sync ;;
	list) echo --json ;;
	esac
}

# Lines of candidates of one kind, for the system under $2 (the --root value).
_olm_query() {
	local kind=$1 root=$2 olm=$3
	local -a rootargs=()
	[[ -n $root ]] && rootargs=(--root "$root")
	# A future olm answers directly; status 0 means "this is the answer", even an empty one.
	"$olm" __complete "$kind" "${rootargs[@]}" 2>/dev/null && return
	case $kind in
	overlays) "$olm" overlays --pretend "${rootargs[@]}" 2>/dev/null | cut -f1 ;;
	packages) "$olm" search "${rootargs[@]}" '' 2>/dev/null | cut -f1 | grep -F '::' ;;
	requests) _olm_requests "${root:-/}" ;;
	names)
		"$olm" list --json "${rootargs[@]}" 2>/dev/null |
			sed -n 's/^ *"\(package\|eclass\|license\)": "\([^"]*\)".*/\2/p'
		;;
	esac
}

# The request lines of packages.d/*.conf and packages, comments dropped.
_olm_requests() {
	local etc=${1%/}/etc/overlayman f
	for f in "$etc"/packages.d/*.conf "$etc"/packages; do
		[[ -f $f ]] && sed -e 's/^[[:space:]]*#.*//' -e 's/[[:space:]]#.*//' -e 's/[[:space:]]//g' "$f"
	done | grep -v '^$'
}

_olm_cached() {
	local key="$1 $2" now=$SECONDS
	if [[ $1 == overlays || $1 == packages ]] && [[ -n ${_olm_memo_at[$key]} ]] && ((now - _olm_memo_at[$key] < 120)); then
		printf '%s\n' "${_olm_memo[$key]}"
		return
	fi
	_olm_memo[$key]=$(_olm_query "$@")
	_olm_memo_at[$key]=$now
	printf '%s\n' "${_olm_memo[$key]}"
}

_olm() {
	local cword=$COMP_CWORD
	local -a words=("${COMP_WORDS[@]}")
	# bash splits "cat/pkg::over" at ":" (and "--root=dir" at "="): join the
	# current word back, and answer relative to the last piece.
	local cur=${words[cword]} first=$cword
	while ((first > 1)) && [[ $cur == [:=]* || ${words[first - 1]} == *[:=] ]]; do
		cur=${words[first - 1]}$cur
		((first--))
	done
	local prev=${words[first - 1]}

	local cmd='' root='' i w
	for ((i = 1; i < first; i++)); do
		w=${words[i]}
		if _olm_takes_value "$w"; then
			[[ $w == --root ]] && root=${words[i + 1]}
			((i++))
		elif [[ $w == --root=* ]]; then
			root=${w#--root=}
		elif [[ $w != -* && -z $cmd ]]; then
			cmd=$w
		fi
	done

	local -a cands=()
	if [[ $prev == --root || $cur == --root=* ]]; then
		local dir=${cur#--root=}
		mapfile -t cands < <(compgen -d -- "$dir")
		[[ $cur == --root=* ]] && cands=("${cands[@]/#/--root=}")
		compopt -o filenames 2>/dev/null
	elif [[ $prev == --jobs ]]; then
		mapfile -t cands < <(compgen -W '1 2 4 8 16' -- "$cur")
	elif [[ $cur == -* ]]; then
		mapfile -t cands < <(compgen -W "$_olm_global_opts $(_olm_command_opts "$cmd")" -- "$cur")
	elif [[ -z $cmd ]]; then
		mapfile -t cands < <(compgen -W "$_olm_commands" -- "$cur")
	else
		mapfile -t cands < <(_olm_arguments "$cmd" "$cur" "$root" "${words[0]}")
	fi

	# Strip what bash already holds in earlier pieces of the word (up to its last ":" or "=").
	if ((first < cword)); then
		local held=${cur%"${words[cword]}"}
		cands=("${cands[@]#"$held"}")
	fi
	COMPREPLY=("${cands[@]}")
}

# Candidates for the arguments of a command.
_olm_arguments() {
	local cmd=$1 cur=$2 root=$3 olm=$4
	case $cmd in
	add)
		local -a names
		if [[ $cur == *::* ]]; then
			mapfile -t names < <(_olm_cached overlays "$root" "$olm")
			names=("${names[@]/#/${cur%%::*}::}")
		else
			mapfile -t names < <(_olm_cached packages "$root" "$olm")
		fi
		compgen -W "${names[*]}" -- "$cur"
		;;
	remove) compgen -W "$(_olm_requests "${root:-/}")" -- "$cur" ;;
	why) compgen -W "$(_olm_query names "$root" "$olm")" -- "$cur" ;;
	overlays) compgen -W "$(_olm_cached overlays "$root" "$olm")" -- "$cur" ;;
	help) compgen -W "$_olm_commands" -- "$cur" ;;
	esac
}

complete -F _olm olm
