#!/usr/bin/env bash
# The bot's memory (state.db) lives on its own branch of the bot repository, as ONE commit without history:
# each push replaces it (force-with-lease), so the repository does not grow by a state.db a day.
#
#   scripts/state_branch.sh pull   # before lfmwatch runs: state.db from the branch (remembers which commit)
#   scripts/state_branch.sh push   # after: one new parentless commit with state.db, pushed only if the branch
#                                  # is still the commit `pull` read; otherwise fail loudly (nothing overwritten)
#
# Environment: GH_TOKEN (token that may read/push the bot repository; sent as an HTTP header for this command
# only, never stored in .git/config), LFMWATCH_STATE_BRANCH (default lfmwatch-state), LFMWATCH_STATE_REMOTE
# (default origin), STATE_MESSAGE (commit message). Exit 0 on success, 1 on any failure (with the reason).
set -euo pipefail

BRANCH="${LFMWATCH_STATE_BRANCH:-lfmwatch-state}"
REMOTE="${LFMWATCH_STATE_REMOTE:-origin}"
BASE_FILE="$(git rev-parse --git-dir)/lfmwatch-state-base"
auth=()
if [ -n "${GH_TOKEN:-}" ]; then
  basic="$(printf 'x-access-token:%s' "$GH_TOKEN" | base64 | tr -d '\n')"
  echo "::add-mask::$basic"
  auth=(-c "http.extraheader=AUTHORIZATION: basic $basic")
fi

pull() {
  local rc=0
  git "${auth[@]}" ls-remote --exit-code --heads "$REMOTE" "refs/heads/$BRANCH" >/dev/null || rc=$?
  if [ "$rc" -eq 2 ]; then
    : >"$BASE_FILE"  # the branch must still be absent when we push
    if [ -f state.db ]; then
      echo "no $BRANCH branch yet: starting from the state.db in this checkout (the first push moves it there)"
    else
      echo "no $BRANCH branch yet: the first run starts a fresh state.db"
    fi
    return 0
  elif [ "$rc" -ne 0 ]; then
    echo "cannot read the $BRANCH branch of $REMOTE (git ls-remote exit $rc): not starting from an empty state" >&2
    return 1
  fi
  git "${auth[@]}" fetch --quiet --no-tags --depth=1 "$REMOTE" "+refs/heads/$BRANCH:refs/remotes/$REMOTE/$BRANCH"
  local head
  head="$(git rev-parse "refs/remotes/$REMOTE/$BRANCH")"
  git cat-file blob "$head:state.db" >state.db.part
  mv state.db.part state.db
  rm -f state.db-wal state.db-shm
  echo "$head" >"$BASE_FILE"
  echo "state.db ($(wc -c <state.db) bytes) from $BRANCH at ${head:0:12}"
}

push() {
  if [ ! -f state.db ]; then
    echo "no state.db: nothing to push"
    return 0
  fi
  if [ ! -f "$BASE_FILE" ]; then
    echo "scripts/state_branch.sh pull did not run in this checkout: refusing to push a state it did not start from" >&2
    return 1
  fi
  # Fold the write-ahead log in so the committed file is complete on its own.
  python3 -c "import sqlite3; c = sqlite3.connect('state.db'); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()"
  local base blob tree commit
  base="$(cat "$BASE_FILE")"
  blob="$(git hash-object -w state.db)"
  if [ -n "$base" ] && [ "$(git rev-parse "$base:state.db")" = "$blob" ]; then
    echo "state.db unchanged: nothing to push"
    return 0
  fi
  tree="$(printf '100644 blob %s\tstate.db\n' "$blob" | git mktree)"
  commit="$(git -c user.name="lfmwatch[bot]" -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
    commit-tree "$tree" -m "${STATE_MESSAGE:-lfmwatch: state}")"
  if ! git "${auth[@]}" push --quiet --force-with-lease="refs/heads/$BRANCH:$base" "$REMOTE" "$commit:refs/heads/$BRANCH"; then
    echo "::error::the $BRANCH branch changed since this job read it (another push to it?): this run's state.db was" \
         "NOT saved and nothing was overwritten. Re-run the workflow; what this run did on GitHub is read back by" \
         "the next run's sync." >&2
    return 1
  fi
  echo "$commit" >"$BASE_FILE"
  echo "pushed state.db ($(wc -c <state.db) bytes) to $BRANCH as ${commit:0:12} (no history kept)"
}

case "${1:-}" in
  pull) pull ;;
  push) push ;;
  *) echo "usage: $0 pull|push" >&2; exit 2 ;;
esac
