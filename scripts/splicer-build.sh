# Sourced by the scripts that run splicer's release build (bench, stress,
# soak, bench-bundle), from the repository's root, with log() defined.

# Builds splicer and sets SPLICER to the binary, wherever cargo puts it
# (CARGO_TARGET_DIR, a worktree's own target dir...).
build_splicer() {
    log "building splicer (cargo build --release)"
    cargo build --release --quiet
    SPLICER=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release/splicer
}

# The commit measured: SPLICER_REV where the tree has no .git (a copy on
# another machine), else HEAD, marked when src/ has uncommitted changes.
splicer_rev() {
    if [ -n "${SPLICER_REV:-}" ]; then
        echo "$SPLICER_REV"
    else
        echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (+ uncommitted src changes)')"
    fi
}
