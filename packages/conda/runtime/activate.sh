# Source this file (". <env>/bin/activate") to use the unpacked environment:
# puts its bin/ first on PATH, sets CONDA_PREFIX, runs etc/conda/activate.d/*.sh.
# Works in sh, bash and zsh; "deactivate" undoes it.
if [ -n "${BASH_SOURCE:-}" ]; then _cp_script="${BASH_SOURCE}"
elif [ -n "${ZSH_VERSION:-}" ]; then _cp_script="${(%):-%x}"
else _cp_script="$0"; fi
# A plain POSIX sh cannot tell which file it is sourcing: then use the prefix that
# conda-unpack (or packing with a destination prefix) wrote below.
case "$(basename -- "$_cp_script")" in
  activate) _cp_prefix="$(cd "$(dirname -- "$_cp_script")/.." && pwd)" ;;
  *) _cp_prefix="@PREFIX@" ;;
esac
if [ -n "${_CONDA_PACK_OLD_PATH+x}" ] && [ -n "${CONDA_PREFIX:-}" ]; then . "$CONDA_PREFIX/bin/deactivate"; fi
_CONDA_PACK_OLD_PATH="$PATH"
_CONDA_PACK_OLD_PS1="${PS1:-}"
PATH="$_cp_prefix/bin:$PATH"
CONDA_PREFIX="$_cp_prefix"
CONDA_DEFAULT_ENV="$_cp_prefix"
PS1="($(basename "$_cp_prefix")) ${PS1:-}"
export PATH CONDA_PREFIX CONDA_DEFAULT_ENV PS1
if [ -d "$_cp_prefix/etc/conda/activate.d" ]; then
  for _cp_f in "$_cp_prefix"/etc/conda/activate.d/*.sh; do
    [ -f "$_cp_f" ] && . "$_cp_f"
  done
  unset _cp_f
fi
deactivate() { . "$CONDA_PREFIX/bin/deactivate"; unset -f deactivate; }
unset _cp_script _cp_prefix
hash -r 2>/dev/null || true
