# Run on each server by ephemeral-sg-ssh (bash, set -euo pipefail): switch the release in place.
release_dir="$APP_ROOT/releases/$RELEASE"
mkdir -p "$release_dir"
cp -a "$APP_ROOT/incoming/." "$release_dir/"
ln -sfn "$release_dir" "$APP_ROOT/current"
echo "serving release $RELEASE from $(readlink "$APP_ROOT/current")"
ls -A "$APP_ROOT/current"
