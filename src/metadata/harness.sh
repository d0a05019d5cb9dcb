# overlayman depend-phase worker (pms.md §6). Source of truth for
# prelude.ts: after editing, run `node src/metadata/gen-prelude.mjs`
# (test/unit/metadata/prelude.test.ts fails when the two differ).
#
# Started as: bash --noprofile --norc -c PRELUDE olm-metadata NPROC CPUSECS VMEMKB WORKDIR MASTER_ECLASS_DIR...
#   (master eclass dirs in search order: last master first, §6.6)
# fd 3 carries requests, one per line, TAB-separated:
#   NONCE EBUILD OWN_ECLASS_DIR CATEGORY PN PV PR EAPI
# fd 4 carries replies, every line starting with the request's NONCE:
#   NONCE job PID            the evaluation's process group (for timeouts)
#   NONCE K KEY=VALUE        one metadata key, whitespace collapsed
#   NONCE E NAME INDEX       an eclass sourced; INDEX 0 = own dir, i = master dir i
#   NONCE die MESSAGE        why the evaluation failed
#   NONCE ok                 the evaluation completed
#   NONCE done STATUS        the evaluation's process is gone
# Each ebuild is sourced in its own subshell, in its own process group, so
# nothing leaks between ebuilds and leftovers can be killed as a group.

__olm_nproc=$1 __olm_cpu=$2 __olm_vmem=$3 __olm_workdir=$4
shift 4
__olm_masters=( "$@" )
set --
export LC_ALL=C
ulimit -c 0
ulimit -u "${__olm_nproc}" 2>/dev/null
cd "${__olm_workdir}" || exit 1
# fd 5 keeps stderr for the ebuild's messages; the worker's own (job
# notices of set -m) are dropped
exec 5>&2 2>/dev/null
set -m

__olm_reply() {
	local IFS=' '
	printf '%s %s\n' "${__olm_nonce}" "$*" >&4
}

# --- global-scope helpers (pms.md §6.3) --------------------------------

die() {
	if [[ ${1-} == -n ]]; then
		shift
		if [[ -n ${__OLM_NONFATAL-} ]]; then
			eerror "$*"
			return 1
		fi
	fi
	local msg="$*"
	__olm_reply die "${msg//$'\n'/ }"
	# Works from command substitutions and handlers too (EAPI 7+ semantics).
	kill -KILL "${__olm_self}"
	exit 1
}

nonfatal() {
	local __OLM_NONFATAL=1
	"$@"
}

has() {
	local __olm_needle=$1 __olm_x
	shift
	for __olm_x; do
		[[ ${__olm_x} == "${__olm_needle}" ]] && return 0
	done
	return 1
}
hasv() {
	if has "$@"; then
		echo "$1"
		return 0
	fi
	return 1
}
hasq() { has "$@"; }

__olm_say() { printf '%s\n' "$*" >&2; }
einfo() { __olm_say " * $*"; }
einfon() { printf ' * %s' "$*" >&2; }
elog() { __olm_say " * $*"; }
ewarn() { __olm_say " * $*"; }
eerror() { __olm_say " * $*"; }
eqawarn() { __olm_say " * QA Notice: $*"; }
ebegin() { __olm_say " * $* ..."; }
eend() {
	local status=${1:-0}
	shift
	(( status == 0 )) || [[ $# -eq 0 ]] || eerror "$*"
	return "${status}"
}
debug-print() { :; }
debug-print-function() { :; }
debug-print-section() { :; }

for __olm_f in use useq usev use_with use_enable usex in_iuse get_libdir \
	has_version best_version portageq diropts docompress dostrip exeopts \
	insopts libopts get_KV KV_major KV_minor KV_micro KV_to_int \
	register_die_hook register_success_hook; do
	eval "${__olm_f}() { die \"${__olm_f}() calls are not allowed in global scope\"; }"
done
# Portage lets these fail with a QA notice instead of dying.
for __olm_f in awk bash cc egrep equery fgrep g++ gawk gcc grep javac \
	java-config nawk perl pkg-config python python-config sed; do
	eval "${__olm_f}() { eqawarn \"${__olm_f} called in global scope\"; return 127; }"
done
unset __olm_f

command_not_found_handle() {
	die "External commands disallowed while sourcing ebuild: $*"
}

# --- version helpers (pms.md §3.4) -------------------------------------

# Splits a version into __olm_ver = (sep0 comp1 sep1 comp2 ...): components
# are runs of digits or of letters, separators whatever lies between.
__olm_ver_split() {
	local v=$1
	__olm_ver=()
	while [[ -n ${v} ]]; do
		[[ ${v} =~ ^([^0-9A-Za-z]*)([0-9]+|[A-Za-z]+)? ]]
		__olm_ver+=( "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" )
		v=${v:${#BASH_REMATCH[0]}}
	done
}

# Sets __olm_lo/__olm_hi from a range N, N- or N-M, the end capped at $2.
__olm_ver_range() {
	[[ $1 =~ ^([0-9]+)(-([0-9]*))?$ ]] || die "invalid version range: $1"
	__olm_lo=${BASH_REMATCH[1]}
	if [[ -z ${BASH_REMATCH[2]} ]]; then
		__olm_hi=${__olm_lo}
	else
		__olm_hi=${BASH_REMATCH[3]:-$2}
		(( __olm_lo <= __olm_hi )) || die "invalid version range: $1"
	fi
	(( __olm_hi <= $2 )) || __olm_hi=$2
}

ver_cut() {
	(( $# == 1 || $# == 2 )) || die "usage: ver_cut RANGE [VERSION]"
	local first
	__olm_ver_split "${2:-${PV}}"
	__olm_ver_range "$1" $(( ${#__olm_ver[@]} / 2 ))
	# index 0 is the leading separator; component k sits at 2k-1
	first=$(( __olm_lo > 0 ? 2 * __olm_lo - 1 : 0 ))
	local IFS=
	echo "${__olm_ver[*]:first:2*__olm_hi-first}"
}

ver_rs() {
	local v=${PV} k
	(( $# % 2 == 1 )) && v=${!#}
	__olm_ver_split "${v}"
	while (( $# >= 2 )); do
		# separator k follows component k; the last component has none
		__olm_ver_range "$1" $(( ${#__olm_ver[@]} / 2 - 1 ))
		for (( k = __olm_lo; k <= __olm_hi; k++ )); do
			(( k == 0 )) && [[ -z ${__olm_ver[0]} ]] && continue
			__olm_ver[2*k]=$2
		done
		shift 2
	done
	local IFS=
	echo "${__olm_ver[*]}"
}

# Sets __olm_cmp to -1, 0 or 1 for digit strings of any length.
__olm_intcmp() {
	local a=$1 b=$2
	while [[ ${a} == 0* ]]; do a=${a#0}; done
	while [[ ${b} == 0* ]]; do b=${b#0}; done
	if (( ${#a} != ${#b} )); then
		__olm_cmp=$(( ${#a} < ${#b} ? -1 : 1 ))
	else
		__olm_strcmp "${a}" "${b}"
	fi
}

__olm_strcmp() {
	if [[ $1 < $2 ]]; then __olm_cmp=-1
	elif [[ $1 > $2 ]]; then __olm_cmp=1
	else __olm_cmp=0
	fi
}

__olm_vre='^([0-9]+)((\.[0-9]+)*)([a-z]?)((_(alpha|beta|pre|rc|p)[0-9]*)*)(-r([0-9]+))?$'

# Loads version $2 into the arrays/variables named by prefix $1.
__olm_ver_parse() {
	[[ $2 =~ ${__olm_vre} ]] || die "invalid version: $2"
	local IFS=$' \t\n'
	local -n nums=$1_n sufs=$1_s
	nums=( ${BASH_REMATCH[1]} ${BASH_REMATCH[2]//./ } )
	sufs=( ${BASH_REMATCH[5]//_/ } )
	printf -v "$1_l" '%s' "${BASH_REMATCH[4]}"
	printf -v "$1_r" '%s' "${BASH_REMATCH[9]}"
}

# PMS §3.2 comparison of $1 and $2; sets __olm_cmp.
__olm_vercmp() {
	local -a a_n a_s b_n b_s
	local a_l a_r b_l b_r i x y
	__olm_ver_parse a "$1"
	__olm_ver_parse b "$2"
	__olm_intcmp "${a_n[0]}" "${b_n[0]}"
	(( __olm_cmp != 0 )) && return
	for (( i = 1; i < ${#a_n[@]} && i < ${#b_n[@]}; i++ )); do
		x=${a_n[i]} y=${b_n[i]}
		if [[ ${x} == 0* || ${y} == 0* ]]; then
			while [[ ${x} == *0 ]]; do x=${x%0}; done
			while [[ ${y} == *0 ]]; do y=${y%0}; done
			__olm_strcmp "${x}" "${y}"
		else
			__olm_intcmp "${x}" "${y}"
		fi
		(( __olm_cmp != 0 )) && return
	done
	__olm_intcmp "${#a_n[@]}" "${#b_n[@]}"
	(( __olm_cmp != 0 )) && return
	__olm_strcmp "${a_l}" "${b_l}"
	(( __olm_cmp != 0 )) && return
	__olm_sufcmp
	(( __olm_cmp != 0 )) && return
	__olm_intcmp "${a_r}" "${b_r}"
}

# Step 5 of §3.2 on the caller's a_s and b_s.
__olm_sufcmp() {
	local -A rank=( [alpha]=1 [beta]=2 [pre]=3 [rc]=4 [p]=5 )
	local i ta tb
	for (( i = 0; i < ${#a_s[@]} && i < ${#b_s[@]}; i++ )); do
		ta=${a_s[i]%%[0-9]*} tb=${b_s[i]%%[0-9]*}
		if [[ ${ta} == "${tb}" ]]; then
			__olm_intcmp "${a_s[i]#"${ta}"}" "${b_s[i]#"${tb}"}"
		else
			__olm_cmp=$(( rank[${ta}] < rank[${tb}] ? -1 : 1 ))
		fi
		(( __olm_cmp != 0 )) && return
	done
	if (( ${#a_s[@]} > i )); then
		[[ ${a_s[i]%%[0-9]*} == p ]] && __olm_cmp=1 || __olm_cmp=-1
	elif (( ${#b_s[@]} > i )); then
		[[ ${b_s[i]%%[0-9]*} == p ]] && __olm_cmp=-1 || __olm_cmp=1
	else
		__olm_cmp=0
	fi
}

ver_test() {
	local a op b
	case $# in
		2) a=${PVR} op=$1 b=$2 ;;
		3) a=$1 op=$2 b=$3 ;;
		*) die "usage: ver_test [V1] OP V2" ;;
	esac
	__olm_vercmp "${a}" "${b}"
	case ${op} in
		-eq) (( __olm_cmp == 0 )) ;;
		-ne) (( __olm_cmp != 0 )) ;;
		-lt) (( __olm_cmp < 0 )) ;;
		-le) (( __olm_cmp <= 0 )) ;;
		-gt) (( __olm_cmp > 0 )) ;;
		-ge) (( __olm_cmp >= 0 )) ;;
		*) die "ver_test: invalid operator: ${op}" ;;
	esac
}

# --- inherit and EXPORT_FUNCTIONS (pms.md §6.4, §6.5) ------------------

EXPORT_FUNCTIONS() {
	[[ -n ${ECLASS-} ]] || die "EXPORT_FUNCTIONS without a defining eclass"
	__olm_exports+=( "$@" )
}

# Sets __olm_path and __olm_index to the first NAME.eclass on the search path.
__olm_find_eclass() {
	local i
	for (( i = 0; i < ${#__olm_search[@]}; i++ )); do
		if [[ -f ${__olm_search[i]}/$1.eclass ]]; then
			__olm_path=${__olm_search[i]}/$1.eclass
			__olm_index=${i}
			return 0
		fi
	done
	return 1
}

inherit() {
	(( ++__olm_depth ))
	local __olm_name __olm_path __olm_index
	for __olm_name; do
		__olm_name=${__olm_name##*/}
		__olm_find_eclass "${__olm_name}" || die "inherit: eclass ${__olm_name} not found"
		__olm_source_eclass
		if [[ ! -v __olm_seen[${__olm_name}] ]]; then
			__olm_seen[${__olm_name}]=1
			INHERITED+=" ${__olm_name}"
			__olm_reply E "${__olm_name}" "${__olm_index}"
		fi
		(( __olm_depth == 1 )) && __olm_inherit+=( "${__olm_name}" )
	done
	(( __olm_depth-- ))
	return 0
}

# Sources one eclass with the accumulated variables set aside: what it leaves
# in them is appended to E_VAR, then the caller's values come back.
__olm_source_eclass() {
	local -A __olm_saved=()
	local __olm_var __olm_e __olm_phase
	for __olm_var in "${__olm_accumulated[@]}"; do
		[[ -v ${__olm_var} ]] && __olm_saved[${__olm_var}]=${!__olm_var}
		unset "${__olm_var}"
	done
	local ECLASS=${__olm_name} __olm_exports=()
	source "${__olm_path}" || die "${__olm_name}.eclass: sourcing failed"
	for __olm_var in "${__olm_accumulated[@]}"; do
		__olm_e=E_${__olm_var}
		[[ -v ${__olm_var} ]] && printf -v "${__olm_e}" '%s %s' "${!__olm_e-}" "${!__olm_var}"
		if [[ -v __olm_saved[${__olm_var}] ]]; then
			printf -v "${__olm_var}" '%s' "${__olm_saved[${__olm_var}]}"
		else
			unset "${__olm_var}"
		fi
	done
	for __olm_phase in "${__olm_exports[@]}"; do
		declare -F "${__olm_name}_${__olm_phase}" >/dev/null ||
			die "EXPORT_FUNCTIONS: ${__olm_name}_${__olm_phase} is not defined"
		eval "${__olm_phase}() { ${__olm_name}_${__olm_phase} \"\$@\"; }"
	done
}

# --- one evaluation ----------------------------------------------------

# Runs in the evaluation subshell before the ebuild: limits, the depend
# phase environment (§6.2) and the EAPI-dependent set of helpers.
__olm_begin() {
	__olm_self=${BASHPID}
	ulimit -t "${__olm_cpu}" 2>/dev/null
	ulimit -v "${__olm_vmem}" 2>/dev/null
	ulimit -f 0
	__olm_search=( "${__olm_own}" "${__olm_masters[@]}" )
	__olm_accumulated=( IUSE REQUIRED_USE DEPEND BDEPEND RDEPEND PDEPEND IDEPEND )
	__olm_depth=0 __olm_inherit=()
	declare -gA __olm_seen=()
	case ${__olm_eapi} in
		[0-7]) ;;
		*) __olm_accumulated+=( PROPERTIES RESTRICT ); unset -f hasv hasq ;;
	esac
	case ${__olm_eapi} in
		[0-6]) unset -f ver_cut ver_rs ver_test ;;
	esac
	__olm_variables
	unset EAPI INHERITED ECLASS "${__olm_accumulated[@]}"
	local v
	for v in "${__olm_accumulated[@]}"; do unset "E_${v}"; done
	case ${__olm_eapi} in
		[0-5]) ;;
		*) shopt -s failglob ;;
	esac
	PATH=/dev/null
	# no loadable builtins (enable -f) for the ebuild
	enable -n enable
}

# The predefined variables of the depend phase (pms.md §6.2).
__olm_variables() {
	PVR=${PV}
	[[ ${PR} == r0 ]] || PVR+=-${PR}
	P=${PN}-${PV} PF=${PN}-${PVR}
	EBUILD=${__olm_ebuild} O=${__olm_ebuild%/*} EBUILD_PHASE=depend EPREFIX=
	local build=/var/tmp/portage/${CATEGORY}/${PF}
	PORTAGE_BUILDDIR=${build} FILESDIR=${build}/files WORKDIR=${build}/work
	DISTDIR=${build}/distdir T=${build}/temp HOME=${build}/homedir
	TMPDIR=${build}/temp D=${build}/image ED=${build}/image S=${WORKDIR}/${P}
	case ${__olm_eapi} in
		[0-6]) PORTDIR=${__olm_own%/eclass} ECLASSDIR=${__olm_own} ;;
	esac
}

# Runs after the ebuild: merges eclass contributions and replies (§6.4).
__olm_finish() {
	shopt -u failglob
	set -f
	local IFS=$' \t\n' v e words
	[[ -n ${EAPI-} ]] || EAPI=0
	[[ ${EAPI} == "${__olm_eapi}" ]] ||
		die "EAPI changed while sourcing: the file starts with ${__olm_eapi}, it is ${EAPI} after sourcing"
	case ${EAPI} in
		[0-3]) [[ -v RDEPEND ]] || RDEPEND=${DEPEND-} ;;
	esac
	for v in "${__olm_accumulated[@]}"; do
		e=E_${v}
		[[ -v ${e} ]] && printf -v "${v}" '%s %s' "${!v-}" "${!e}"
	done
	__olm_defined_phases
	INHERIT=${__olm_inherit[*]}
	for v in BDEPEND DEFINED_PHASES DEPEND DESCRIPTION EAPI HOMEPAGE IDEPEND INHERIT \
		IUSE KEYWORDS LICENSE PDEPEND PROPERTIES RDEPEND REQUIRED_USE RESTRICT SLOT SRC_URI; do
		case ${v}:${EAPI} in
			BDEPEND:[0-6]|IDEPEND:[0-7]) continue ;;
		esac
		# unquoted on purpose: word splitting collapses the whitespace
		words=( ${!v-} )
		__olm_reply K "${v}=${words[*]}"
	done
	__olm_reply ok
}

# Phase functions the EAPI knows, listed alphabetically by short name (§6.5).
__olm_defined_phases() {
	local p
	DEFINED_PHASES=
	for p in compile config configure info install nofetch postinst postrm \
		preinst prepare prerm pretend setup test unpack; do
		case ${p}:${EAPI} in
			configure:[01]|prepare:[01]|pretend:[0-3]) continue ;;
		esac
		if declare -F "pkg_${p}" >/dev/null || declare -F "src_${p}" >/dev/null; then
			DEFINED_PHASES+=" ${p}"
		fi
	done
	[[ -n ${DEFINED_PHASES} ]] || DEFINED_PHASES=-
}

# --- the request loop --------------------------------------------------

while IFS=$'\t' read -r -u 3 __olm_nonce __olm_ebuild __olm_own CATEGORY PN PV PR __olm_eapi; do
	(
		__olm_begin
		source "${EBUILD}" || die "error sourcing ebuild"
		__olm_finish
	) 3<&- </dev/null >/dev/null 2>&5 5>&- &
	__olm_job=$!
	__olm_reply job "${__olm_job}"
	wait "${__olm_job}"
	__olm_status=$?
	kill -KILL -- "-${__olm_job}" 2>/dev/null
	__olm_reply done "${__olm_status}"
done
