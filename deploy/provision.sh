#!/bin/sh
# Provisions what Damascus needs from a Gitea, with Gitea's own CLI, and writes the results as files
# (one line each, mode 0600) into PROVISION_DIR:
#
#   gitea-token                the bot's access token (GITEA_TOKEN_FILE); never regenerated once written
#   gitea-token.user           the login that token belongs to (not a secret)
#   runner-registration-token  for act_runner (GITEA_RUNNER_REGISTRATION_TOKEN_FILE)
#   webhook-secret             DAMASCUS_WEBHOOK_SECRET_FILE
#   callback-secret            DAMASCUS_CALLBACK_SECRET_FILE
#   postgres-password          POSTGRES_PASSWORD_FILE (PostgreSQL's image) and DATABASE_PASSWORD_FILE
#   redis-password             deploy/redis-start.sh's REDIS_PASSWORD_FILE and Damascus's REDIS_PASSWORD_FILE
#   dashboard-token            DAMASCUS_DASHBOARD_TOKEN_FILE (open the dashboard with it)
#
# Running it again changes nothing. It prints no token, secret or password: they go from the
# generating command straight into files and never through a variable or a command line.
#
# Environment (nothing here assumes Docker):
#   PROVISION_DIR       absolute path of the directory for the files (required; created 0700)
#   GITEA_BIN           the gitea command (default: gitea, from PATH)
#   GITEA_CONFIG        absolute path of app.ini, passed as --config (optional)
#   GITEA_RUN_AS        run gitea as this user, through su-exec or runuser (Gitea refuses to run as root)
#   PROVISION_OWNER     user[:group] the files are given to, for readers that are not root (optional)
#   DAMASCUS_BOT_USER   the bot's login (default damascus-bot)
#   DAMASCUS_BOT_EMAIL  the bot's e-mail address (default <login>@damascus.invalid)
set -eu
umask 077

# What the bot's token may do: push branches and open/merge PRs, comment and label, read itself.
TOKEN_SCOPES='write:repository,write:issue,read:user,write:user'

say() { printf 'provision: %s\n' "$*"; }
die() { printf 'provision: error: %s\n' "$*" >&2; exit 1; }

PROVISION_DIR=${PROVISION_DIR:-}
GITEA_BIN=${GITEA_BIN:-gitea}
GITEA_CONFIG=${GITEA_CONFIG:-}
GITEA_RUN_AS=${GITEA_RUN_AS:-}
PROVISION_OWNER=${PROVISION_OWNER:-}
BOT_USER=${DAMASCUS_BOT_USER:-damascus-bot}
BOT_EMAIL=${DAMASCUS_BOT_EMAIL:-$BOT_USER@damascus.invalid}

# ---- check the input: every value below reaches a command only as one quoted argument ----
case $PROVISION_DIR in
  /*) ;;
  '') die 'PROVISION_DIR must name the directory for the provisioned files' ;;
  *) die 'PROVISION_DIR must be an absolute path' ;;
esac
case $GITEA_CONFIG in
  ''|/*) ;;
  *) die 'GITEA_CONFIG must be an absolute path' ;;
esac
case $GITEA_BIN in
  ''|-*) die 'GITEA_BIN must name the gitea command' ;;
esac
case $GITEA_RUN_AS in
  -*|*[!A-Za-z0-9._-]*) die 'GITEA_RUN_AS must be a plain user name' ;;
esac
case $PROVISION_OWNER in
  -*|*[!A-Za-z0-9._:-]*) die 'PROVISION_OWNER must be user or user:group' ;;
esac
# Gitea's own rule for logins: letters, digits, - _ . ; no special character first or last.
case $BOT_USER in
  ''|*[!A-Za-z0-9._-]*|[._-]*|*[._-]) die 'DAMASCUS_BOT_USER must be letters, digits, "-", "_" or "." (not first or last)' ;;
esac
case $BOT_EMAIL in
  *[!A-Za-z0-9._+@-]*|*@*@*|@*|*@) die 'DAMASCUS_BOT_EMAIL must be a plain e-mail address' ;;
  *@*) ;;
  *) die 'DAMASCUS_BOT_EMAIL must be a plain e-mail address' ;;
esac
command -v "$GITEA_BIN" >/dev/null 2>&1 || die "GITEA_BIN: $GITEA_BIN is not an executable command"
if [ -n "$GITEA_CONFIG" ] && [ ! -f "$GITEA_CONFIG" ]; then die "GITEA_CONFIG: $GITEA_CONFIG does not exist"; fi

# gitea, as GITEA_RUN_AS when that is set. Arguments pass through "$@", so nothing is word-split or
# re-parsed by a shell (hence no `su -c`, which takes a shell line).
gitea_cli() {
  if [ -n "$GITEA_CONFIG" ]; then set -- --config "$GITEA_CONFIG" "$@"; fi
  if [ -z "$GITEA_RUN_AS" ] || [ "$GITEA_RUN_AS" = "$(id -un)" ]; then
    "$GITEA_BIN" "$@"
  elif command -v su-exec >/dev/null 2>&1; then
    su-exec "$GITEA_RUN_AS" "$GITEA_BIN" "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u "$GITEA_RUN_AS" -- "$GITEA_BIN" "$@"
  else
    die 'GITEA_RUN_AS needs su-exec or runuser'
  fi
}

mkdir -p "$PROVISION_DIR"
chmod 0700 "$PROVISION_DIR"
# A user that cannot read the caller's working directory may still run gitea.
cd /

TMP="$PROVISION_DIR/.provision.$$"
trap 'rm -f "$TMP" "$TMP.line"' EXIT
trap 'exit 1' HUP INT TERM

# Files are created 0600 (umask); the owner is the reader when that is not root.
own() {
  if [ -n "$PROVISION_OWNER" ]; then chown "$PROVISION_OWNER" "$@"; fi
}
own "$PROVISION_DIR"

# The one line of $TMP that matches the extended regex $1 (gitea may log other lines on stdout) goes to
# $TMP.line; it is never printed. Fails unless exactly one line matches.
pick_line() {
  grep -E "^$1\$" "$TMP" >"$TMP.line" || true
  if [ "$(wc -l <"$TMP.line")" -ne 1 ]; then rm -f "$TMP.line"; return 1; fi
}
# $TMP.line becomes the file $1, atomically (rename), for its reader.
install_line() {
  own "$TMP.line"
  mv -f "$TMP.line" "$1"
}

# ---- the bot user ----
gitea_cli admin user list >"$TMP" || die 'gitea admin user list failed (see above)'
# Columns: ID Username Email IsActive IsAdmin 2FA. Logins compare without case, as in Gitea.
bot_row=$(BOT="$BOT_USER" awk 'NR > 1 && tolower($2) == tolower(ENVIRON["BOT"]) { print $5; exit }' "$TMP")
created_user=no
case $bot_row in
  '')
    # --random-password prints the password on stdout; nobody needs it (Damascus uses the token), so it is dropped.
    gitea_cli admin user create --username "$BOT_USER" --email "$BOT_EMAIL" --fullname 'Damascus bot' \
      --random-password --random-password-length 32 --must-change-password=false >/dev/null \
      || die "could not create the bot user $BOT_USER (see above)"
    created_user=yes
    say "created the bot user $BOT_USER"
    ;;
  true) die "the user $BOT_USER exists and is a site administrator; the bot must not be one (pick another DAMASCUS_BOT_USER)" ;;
  *) say "the bot user $BOT_USER exists" ;;
esac

# ---- the bot's access token ----
token_file="$PROVISION_DIR/gitea-token"
token_user_file="$PROVISION_DIR/gitea-token.user"
stale=''
if [ -s "$token_file" ]; then
  # A token cannot be read back from Gitea, so one that exists is kept, unless it cannot be the bot's.
  if [ "$created_user" = yes ]; then
    stale="the user $BOT_USER did not exist (was Gitea's data reset?)"
  elif [ -f "$token_user_file" ] && [ "$(cat "$token_user_file")" != "$BOT_USER" ]; then
    stale="it belongs to $(cat "$token_user_file"), not $BOT_USER"
  fi
fi
if [ ! -s "$token_file" ] || [ -n "$stale" ]; then
  # Token names are unique per user: the time makes a new one.
  token_name="damascus-$(date -u +%Y%m%dT%H%M%SZ)"
  gitea_cli admin user generate-access-token --username "$BOT_USER" --token-name "$token_name" \
    --scopes "$TOKEN_SCOPES" --raw >"$TMP" || die "could not create an access token for $BOT_USER (see above)"
  pick_line '[0-9a-f]{40}' \
    || die "gitea printed no token line; the token $token_name of $BOT_USER was not saved (delete it in Gitea)"
  install_line "$token_file"
  printf '%s\n' "$BOT_USER" >"$token_user_file"
  own "$token_user_file"
  if [ -n "$stale" ]; then say "replaced gitea-token because $stale; it is the token $token_name"
  else say "wrote gitea-token (the token $token_name of $BOT_USER)"; fi
else
  if [ ! -f "$token_user_file" ]; then printf '%s\n' "$BOT_USER" >"$token_user_file"; own "$token_user_file"; fi
  say 'kept gitea-token'
fi

# ---- the runner registration token ----
# Gitea hands out the same token until a runner registers with it, and a fresh one after that, so asking
# each time keeps the file valid for the next registration and leaves it unchanged otherwise.
runner_file="$PROVISION_DIR/runner-registration-token"
gitea_cli actions generate-runner-token >"$TMP" \
  || die 'could not get a runner registration token (is Gitea up and LOCAL_ROOT_URL reachable from here?)'
pick_line '[A-Za-z0-9]{40}' || die 'gitea printed no runner token line'
if [ -f "$runner_file" ] && cmp -s "$TMP.line" "$runner_file"; then
  say 'kept runner-registration-token'
else
  install_line "$runner_file"
  say 'wrote runner-registration-token'
fi

# ---- the shared secrets and passwords: 32 random bytes as hex, made once ----
for name in webhook-secret callback-secret postgres-password redis-password dashboard-token; do
  file="$PROVISION_DIR/$name"
  if [ -s "$file" ]; then
    say "kept $name"
    continue
  fi
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$TMP"
  printf '\n' >>"$TMP"
  pick_line '[0-9a-f]{64}' || die "could not make $name from /dev/urandom"
  install_line "$file"
  say "wrote $name"
done

say "done: the files are in $PROVISION_DIR"
