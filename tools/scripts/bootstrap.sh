# Sourced by the top-level commands: makes sure pnpm (pinned) and the node modules are present.
# Needs only Node >= 20.19 and npm. Safe to run again: each step is skipped when already done.
PNPM_VERSION=10.34.9
if [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "bootstrap: installing pnpm@$PNPM_VERSION" >&2
  if ! npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1; then
    # Not allowed to write the global prefix: keep a private copy in the repository.
    npm install --prefix .vmv-cache/pnpm "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || { echo "bootstrap: cannot install pnpm" >&2; exit 1; }
    export PATH="$PWD/.vmv-cache/pnpm/node_modules/.bin:$PATH"
  fi
fi
if [ ! -f node_modules/.modules.yaml ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "bootstrap: pnpm install" >&2
  CI=${CI:-} pnpm install --frozen-lockfile </dev/null || { echo "bootstrap: pnpm install failed" >&2; exit 1; }
fi
