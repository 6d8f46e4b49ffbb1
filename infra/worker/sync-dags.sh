#!/usr/bin/env bash
# Converges a worker's DAG folder to an S3 prefix written by deploy-dags: full sync with deletes,
# decided by content (SHA-256), never by mtime. Run by the worker-refresh SSM document.
#
# Inputs, all from the environment (typed document parameters, never shell text):
#   SYNC_BUCKET        the DAG bucket
#   SYNC_PREFIX        the prefix, '' for the bucket root, else without a trailing slash
#   SYNC_DAG_FOLDER    the DAG folder, an absolute path
#   SYNC_REPORT_PATHS  optional: newline-separated paths (relative to the prefix) to report the
#                      SHA-256 of after the sync, null when absent
#   SYNC_ENDPOINT_URL  optional: an S3 endpoint other than AWS's
#   SYNC_LOCK_WAIT     optional: seconds to wait for a concurrent run on this worker (default 600)
#   SYNC_PARALLEL      optional: downloads at a time (1 to 64, default 8)
#
# Refuses to change anything when the prefix has no manifest (deploy-dags writes one).
# Output: one line per change, then a last line `SYNC-RESULT <json>` with
# {"downloaded":n,"deleted":n,"unchanged":n,"failed":n,"failedKeys":[the first 20],
#  "hashes":{path:sha256|null},"tree":{"files":n,"sha256":digest}}. The tree digest covers every
# file the folder holds after the run: SHA-256 over "<path>\0<sha256>\n" lines in UTF-8 byte order
# of the path, the same digest the refresh function computes from the manifest (see tree.ts).
# The lines before it are capped (SSM keeps 24,000 characters).
# Exit status 0 when the folder equals the deployed tree (its digest equals the manifest's);
# otherwise 1 with a one-line reason on stderr.
#
# Needs bash, coreutils, flock (util-linux), python3 (standard library only) and the AWS CLI
# (v1 or v2: only `aws s3api list-objects-v2` and `aws s3api get-object` are used).
set -euo pipefail

fail() {
  echo "sync-dags: $*" >&2
  exit 1
}

bucket=${SYNC_BUCKET:-}
folder=${SYNC_DAG_FOLDER:-}
[ -n "$bucket" ] || fail "SYNC_BUCKET is empty; set it to the DAG bucket"
case "$folder" in
  /*) ;;
  *) fail "SYNC_DAG_FOLDER must be an absolute path" ;;
esac
folder=${folder%/}
[ -n "$folder" ] || fail "SYNC_DAG_FOLDER must not be /"
case "${SYNC_PREFIX:-}" in
  /* | */) fail "SYNC_PREFIX must be '' for the bucket root, or a folder without leading or trailing /" ;;
esac
lock_wait=${SYNC_LOCK_WAIT:-600}
case "$lock_wait" in
  '' | *[!0-9]*) fail "SYNC_LOCK_WAIT must be a whole number of seconds" ;;
esac
case "${SYNC_PARALLEL:-8}" in
  [1-9] | [1-5][0-9] | 6[0-4]) ;;
  *) fail "SYNC_PARALLEL must be a whole number from 1 to 64" ;;
esac
command -v aws >/dev/null 2>&1 || fail "the AWS CLI (aws) is not on the PATH"
command -v python3 >/dev/null 2>&1 || fail "python3 is not on the PATH"
command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is not on the PATH"

mkdir -p -- "$folder"
# The lock sits next to the folder, not inside it: a deploy and a scale-out on one worker take
# turns, so the temporary files a run finds are always those of an interrupted run.
lock="$(dirname -- "$folder")/.$(basename -- "$folder").sync-dags.lock"
exec 9>>"$lock"
flock -w "$lock_wait" 9 || fail "another sync of $folder still runs after ${lock_wait}s"

export SYNC_DAG_FOLDER="$folder"
exec python3 - <<'PYTHON'
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib

MANIFEST_NAME = ".deploy-dags-manifest.json"
MANIFEST_MAX_BYTES = 256 * 1024 * 1024
TEMP_PREFIX = ".sync-dags."
TEMP_SUFFIX = ".tmp"

bucket = os.environ["SYNC_BUCKET"]
prefix = os.environ.get("SYNC_PREFIX", "")
folder = os.environ["SYNC_DAG_FOLDER"]
endpoint = os.environ.get("SYNC_ENDPOINT_URL", "")
report_paths = [p for p in os.environ.get("SYNC_REPORT_PATHS", "").split("\n") if p != ""]
parallel = int(os.environ.get("SYNC_PARALLEL", "8"))
base = prefix + "/" if prefix else ""
# AWS CLI v2 would page its output through `less` when it thinks a person reads it.
os.environ["AWS_PAGER"] = ""


def shown(text):
    """Foreign text (keys, paths) for a log line: quoted, control characters escaped."""
    return json.dumps(text)


# SSM returns only the first 24,000 characters of a command's output: the lines per file are capped,
# in number and in characters, so that the summary and the SYNC-RESULT line always fit behind them.
DETAIL_LINES = 100
DETAIL_CHARS = 8000
LINE_CHARS = 300
detail_shown = detail_chars = detail_left_out = 0


def detail(line):
    global detail_shown, detail_chars, detail_left_out
    if len(line) > LINE_CHARS:
        line = line[:LINE_CHARS] + "..."
    if detail_shown < DETAIL_LINES and detail_chars + len(line) <= DETAIL_CHARS:
        detail_shown += 1
        detail_chars += len(line) + 1
        print(line)
    else:
        detail_left_out += 1


def die(reason):
    print("sync-dags: " + reason, file=sys.stderr)
    sys.exit(1)


# Whatever goes wrong, the caller reads one line on stderr.
sys.excepthook = lambda kind, error, trace: die("unexpected %s: %s" % (kind.__name__, shown(str(error))))


def aws(*args):
    command = ["aws"]
    if endpoint:
        command += ["--endpoint-url", endpoint]
    command += list(args)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if result.returncode != 0:
        last = result.stderr.decode("utf-8", "replace").strip().splitlines()
        # The CLI's message may quote the server's answer: foreign text, shown escaped.
        raise RuntimeError(shown(last[-1]) if last else "aws exited with %d" % result.returncode)
    return result.stdout


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unsafe(path):
    """Why a key's path below the prefix cannot be a file in the folder, or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "it holds a control character"
    if path.startswith("/"):
        return "it is absolute"
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "it has an empty, '.' or '..' segment"
    if any(part.startswith(TEMP_PREFIX) and part.endswith(TEMP_SUFFIX) for part in parts):
        return "it has the name of this script's temporary files"
    return None


def local_file_hash(path):
    """SHA-256 of a regular file (not a link), or None."""
    try:
        if not os.path.isfile(path) or os.path.islink(path):
            return None
        return sha256_of(path)
    except OSError:
        return None


def inside_folder(directory):
    real_folder = os.path.realpath(folder)
    real = os.path.realpath(directory)
    return real == real_folder or real.startswith(real_folder + os.sep)


# Temporary files left by an interrupted run; the lock says no other run owns them.
for root, dirs, files in os.walk(folder):
    for name in files:
        if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
            os.unlink(os.path.join(root, name))
            detail("removed the stale temporary file " + shown(os.path.relpath(os.path.join(root, name), folder)))

try:
    args = ["s3api", "list-objects-v2", "--bucket", bucket, "--output", "json"]
    if base:
        args += ["--prefix", base]
    listing_text = aws(*args).decode("utf-8").strip()
except (RuntimeError, UnicodeDecodeError) as error:
    die("cannot list s3://%s/%s: %s" % (bucket, base, error))
listing = json.loads(listing_text) if listing_text else {}
objects = {}
failed = []
for item in listing.get("Contents") or []:
    key = item["Key"]
    if not key.startswith(base) or key.endswith("/"):
        continue
    path = key[len(base):]
    if path == MANIFEST_NAME:
        continue
    reason = unsafe(path)
    if reason is not None:
        failed.append(key)
        detail("refused the key %s: %s" % (shown(key), reason))
        continue
    objects[path] = key

# Without the manifest nothing says what the deploy holds: a wrong prefix, or a bucket that
# deploy-dags never wrote, would otherwise turn into deleting every DAG on the worker.
manifest = None
manifest_problem = "there is none"
with tempfile.TemporaryDirectory() as scratch:
    target = os.path.join(scratch, "manifest.json")
    try:
        aws("s3api", "get-object", "--bucket", bucket, "--key", base + MANIFEST_NAME, target)
        with open(target, "rb") as stream:
            raw = stream.read()
        # deploy-dags stores it gzip-compressed; earlier versions stored the JSON as it is. Anyone
        # who can write under the prefix can write it: its expansion is capped (256 MiB).
        if raw[:2] == b"\x1f\x8b":
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            raw = inflate.decompress(raw, MANIFEST_MAX_BYTES)
            if inflate.unconsumed_tail or not inflate.eof:
                raise ValueError("not a whole gzip stream within %d bytes" % MANIFEST_MAX_BYTES)
        document = json.loads(raw.decode("utf-8"))
        if document.get("format") == 1 and isinstance(document.get("objects"), dict):
            manifest = document["objects"]
        else:
            manifest_problem = "it has a format this script does not read"
    except RuntimeError as error:
        if "NoSuchKey" not in str(error) and "(404)" not in str(error):
            manifest_problem = "it could not be read: %s" % error
    except (ValueError, OSError, EOFError, zlib.error, AttributeError):
        manifest_problem = "it is not a manifest"
if manifest is None:
    die(
        "no manifest at s3://%s/%s%s (%s); nothing was changed: deploy the DAGs with deploy-dags first"
        % (bucket, base, MANIFEST_NAME, manifest_problem)
    )


def known_sha256(path):
    """What deploy-dags wrote: an object whose bytes differ was changed under it, or tampered."""
    entry = manifest.get(path)
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        return None
    return entry["sha256"].lower()


downloaded = unchanged = deleted = 0
# SHA-256 of the files this run hashed or wrote, so the tree digest reads each file once.
known = {}
current_hash = {}
wanted = []
for path in sorted(objects):
    current = local_file_hash(os.path.join(folder, path))
    current_hash[path] = current
    if current is not None:
        known[path] = current
    expected = known_sha256(path)
    if expected is not None and current == expected:
        unchanged += 1
    else:
        wanted.append(path)


def fetch(job):
    """Downloads one object into the scratch folder: (path, scratch file, SHA-256) or the error."""
    index, path = job
    target = os.path.join(scratch, str(index))
    try:
        aws("s3api", "get-object", "--bucket", bucket, "--key", objects[path], target)
        return path, target, sha256_of(target), None
    except (OSError, RuntimeError) as error:
        return path, target, None, error


# The downloads run in parallel into a scratch folder beside the DAG folder (never inside it, where
# the scheduler would parse them); every decision about the folder is then taken one path at a
# time in path order, as if each had been downloaded in turn.
scratch = os.path.join(os.path.dirname(folder), "." + os.path.basename(folder) + ".sync-dags.scratch")
shutil.rmtree(scratch, ignore_errors=True)
os.makedirs(scratch)
try:
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        fetched = {path: (target, actual, error) for path, target, actual, error in pool.map(fetch, enumerate(wanted))}
    for path in wanted:
        key = objects[path]
        local = os.path.join(folder, path)
        expected = known_sha256(path)
        current = current_hash[path]
        source, actual, fetch_error = fetched[path]
        directory = os.path.dirname(local)
        try:
            # A link in the way must not make this write, or the folders it creates, land elsewhere.
            existing = directory
            while not os.path.lexists(existing):
                existing = os.path.dirname(existing)
            if not inside_folder(existing):
                raise RuntimeError("its folder leads outside the DAG folder")
            os.makedirs(directory, exist_ok=True)
            if os.path.isdir(local) and not os.path.islink(local):
                raise RuntimeError("a folder of that name is in the way")
            handle, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
            os.close(handle)
        except (OSError, RuntimeError) as error:
            failed.append(key)
            detail("failed %s: %s" % (shown(key), error))
            continue
        try:
            if fetch_error is not None:
                raise fetch_error
            if expected is not None and actual != expected:
                raise RuntimeError("its bytes differ from the SHA-256 the manifest recorded (changed or tampered)")
            if actual == current:
                os.unlink(temporary)
                unchanged += 1
                continue
            # Moved, not copied, when the scratch folder is on the same file system.
            shutil.move(source, temporary)
            os.chmod(temporary, 0o644)
            os.replace(temporary, local)
            known[path] = actual
            downloaded += 1
            detail("downloaded " + shown(path))
        except (OSError, RuntimeError) as error:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            failed.append(key)
            detail("failed %s: %s" % (shown(key), error))
finally:
    shutil.rmtree(scratch, ignore_errors=True)

# Deletes: every local file no object stands for, then the folders that leaves empty. A run that
# refused a key still deletes: a refused key is never a file here.
for root, dirs, files in os.walk(folder, topdown=False):
    for name in files:
        full = os.path.join(root, name)
        path = os.path.relpath(full, folder).replace(os.sep, "/")
        if path not in objects:
            os.unlink(full)
            deleted += 1
            detail("deleted " + shown(path))
    for name in dirs:
        full = os.path.join(root, name)
        if os.path.islink(full):
            path = os.path.relpath(full, folder).replace(os.sep, "/")
            if path not in objects:
                os.unlink(full)
                deleted += 1
                detail("deleted " + shown(path))
            continue
        try:
            os.rmdir(full)
        except OSError:
            pass

def digest_of(lines):
    total = hashlib.sha256()
    for path, digest in sorted(lines):
        total.update(path + b"\0" + digest.encode("ascii") + b"\n")
    return {"files": len(lines), "sha256": total.hexdigest()}


def manifest_tree():
    """The digest of what the deploy recorded, as the refresh function computes it."""
    lines = []
    for path, entry in manifest.items():
        sha256 = entry.get("sha256") if isinstance(entry, dict) else None
        if isinstance(sha256, str) and re.fullmatch("[0-9a-f]{64}", sha256):
            lines.append((path.encode("utf-8", "surrogateescape"), sha256))
    return digest_of(lines)


def tree_digest():
    """Every entry the folder holds, a link or other non-file as such, so no difference hides."""
    lines = []
    for root, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, name)
            path = os.path.relpath(full, folder).replace(os.sep, "/")
            if os.path.islink(full) or not os.path.isfile(full):
                digest = "not-a-file"
            else:
                digest = known.get(path) or sha256_of(full)
            lines.append((path.encode("utf-8", "surrogateescape"), digest))
    return digest_of(lines)


hashes = {}
for path in report_paths:
    hashes[path] = None if unsafe(path) is not None else local_file_hash(os.path.join(folder, path))

if detail_left_out:
    print("... and %d more lines like these" % detail_left_out)
print("%d downloaded, %d deleted, %d unchanged, %d failed" % (downloaded, deleted, unchanged, len(failed)))
result = {
    "downloaded": downloaded,
    "deleted": deleted,
    "unchanged": unchanged,
    "failed": len(failed),
    # Capped, so that even keys of S3's full 1,024 bytes keep the line within SSM's output.
    "failedKeys": [key[:200] for key in failed[:20]],
    "hashes": hashes,
    "tree": tree_digest(),
}
print("SYNC-RESULT " + json.dumps(result, sort_keys=True))
sys.stdout.flush()
if failed:
    die("%d key(s) not synced, the first %s" % (len(failed), shown(failed[0])))
# The folder must be what the deploy recorded, file for file, before anything (a worker start)
# may follow; the refresh function checks the same digest from its side.
expected = manifest_tree()
if result["tree"] != expected:
    die(
        "the DAG folder is not the deployed tree: %d files, the manifest %d, and their digest differs "
        "(an object in the prefix that deploy-dags did not write, or one recorded but gone)"
        % (result["tree"]["files"], expected["files"])
    )
PYTHON
