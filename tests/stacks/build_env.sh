#!/usr/bin/env bash
# Build the separate environment in which tests/stacks/keybert_stacks.py runs KeyBERT on the real
# flair and TF-Hub stacks (flair pins transformers<5, so they cannot share sentkit's .venv).
#
#   tests/stacks/build_env.sh VENV_DIR [PYTHON]
#
# torch comes first from the CPU build on disk (any other torch requirement would pull a CUDA build),
# then flair with keybert, then TensorFlow with tensorflow-hub, then sentkit itself (--no-deps: the
# stacks bring what it needs). A stack that cannot be installed does not fail the build: VENV_DIR/
# status.json records, per stack, whether it installed and pip's last words if not, and
# tests/test_real_stacks.py skips that stack with them. Measured on the project's 2-core machines:
# about 2.5 min for torch + flair + keybert, 40 s for TensorFlow, 3.5 GB on disk.
set -u
venv="$1"
python="${2:-python3}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
log="$(mktemp)"
status_flair="" status_tf="" status_sentkit=""

install() {  # install PACKAGES...: prints nothing on success, else the reason
    if ! "$venv/bin/python" -m pip --disable-pip-version-check -q install "$@" >"$log" 2>&1; then
        echo "pip install $* failed: $(grep -v '^WARNING' "$log" | tail -n 3 | tr '\n' ' ')"
    fi
}

if ! "$python" -m venv "$venv" >"$log" 2>&1; then
    reason="python -m venv failed: $(tail -n 3 "$log" | tr '\n' ' ')"
    mkdir -p "$venv"
    status_flair="$reason" status_tf="$reason" status_sentkit="$reason"
else
    torch_reason="$(install torch==2.13.0)"
    if [ -n "$torch_reason" ]; then
        status_flair="$torch_reason" status_tf="$torch_reason"
    else
        status_flair="$(install flair==0.15.1 keybert==0.9.0)"
        status_tf="$(install tensorflow-cpu==2.21.0 tensorflow-hub==0.16.1 'setuptools<81' keybert==0.9.0)"
    fi
    status_sentkit="$(install --no-deps -e "$root")"
fi

FLAIR="$status_flair" TF_HUB="$status_tf" SENTKIT="$status_sentkit" "$python" -c '
import json, os, sys
reasons = {"flair": os.environ["FLAIR"], "tf-hub": os.environ["TF_HUB"], "sentkit": os.environ["SENTKIT"]}
status = {name: {"installed": not why, "why": why} for name, why in reasons.items()}
json.dump(status, open(sys.argv[1], "w"), indent=2)
' "$venv/status.json"
rm -f "$log"
exit 0
