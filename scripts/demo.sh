#!/bin/sh
# Run the single-machine demo: a demo user and target, `depositum serve`, and a
# DIP built around a real Archivematica METS deposited through the client. The
# server keeps running until Ctrl-C.
set -eu

BIN=${BIN:-.venv/bin}
PORT=${PORT:-8000}
URL="http://127.0.0.1:$PORT"
export DEPOSITUM_DATA_DIR="${DEPOSITUM_DATA_DIR:-$(pwd)/var}"
DEPOSIT_DIR="${DEPOSITUM_DEPOSIT_DIR:-$DEPOSITUM_DATA_DIR/deposits}"

if "$BIN/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $PORT)) != 0)"; then
    echo "Port $PORT is in use: stop what runs there, or run: make demo PORT=8001" >&2
    exit 1
fi

"$BIN/depositum" migrate -v0
"$BIN/depositum" createuser demo --password demo --email demo@example.org --superuser
"$BIN/depositum" createtarget demo --title "Demo fonds" --grant demo

"$BIN/depositum" serve --bind "127.0.0.1:$PORT" &
SERVER=$!
stop() {
    kill $SERVER 2>/dev/null
    wait $SERVER 2>/dev/null
}
# Ctrl-C is how the demo ends, so it exits 0.
trap 'stop; exit 0' INT TERM
trap stop EXIT

until "$BIN/python" -c "import urllib.request; urllib.request.urlopen('$URL/')" 2>/dev/null; do
    if ! kill -0 $SERVER 2>/dev/null; then
        echo "depositum serve stopped; see the messages above" >&2
        exit 1
    fi
    sleep 0.5
done

# The METS of an Archivematica 1.12 AIP of ten images (see tests/fixtures/mets).
DIPS="$DEPOSITUM_DATA_DIR/demo-dips"
rm -rf "$DIPS"
DIP=$("$BIN/python" -m tests.dips tests/fixtures/mets/01_aipscan_images_am1.12.xml "$DIPS")
mkdir -p "$DEPOSIT_DIR"

"$BIN/depositum" deposit "$DIP" --url "$URL" --target demo \
    --user demo --password demo --rsync-target "$DEPOSIT_DIR/" --wait

echo
echo "Home page: $URL/   Admin: $URL/admin/ (user demo, password demo)"
echo "depositum is serving on $URL; press Ctrl-C to stop."
wait $SERVER
