# Source this file (". <env>/bin/deactivate", or run "deactivate") to undo bin/activate.
if [ -n "${CONDA_PREFIX:-}" ] && [ -d "$CONDA_PREFIX/etc/conda/deactivate.d" ]; then
  for _cp_f in "$CONDA_PREFIX"/etc/conda/deactivate.d/*.sh; do
    [ -f "$_cp_f" ] && . "$_cp_f"
  done
  unset _cp_f
fi
if [ -n "${_CONDA_PACK_OLD_PATH+x}" ]; then PATH="$_CONDA_PACK_OLD_PATH"; export PATH; fi
if [ -n "${_CONDA_PACK_OLD_PS1+x}" ]; then PS1="$_CONDA_PACK_OLD_PS1"; export PS1; fi
unset _CONDA_PACK_OLD_PATH _CONDA_PACK_OLD_PS1 CONDA_PREFIX CONDA_DEFAULT_ENV
hash -r 2>/dev/null || true
