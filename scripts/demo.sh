#!/bin/sh
# Run the single-machine demo: a demo user and target, `depositum serve`, and
# three DIPs built around real Archivematica METS files, deposited through the
# client: ten images with thumbnails, an arranged SIP with an MP3 and a DSpace
# item whose OCR text contains the word printed at the end. Running it again
# deposits the same DIPs again, which replaces their descriptions. The server
# keeps running until Ctrl-C.
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
# Both traps call this, so the second call finds the server gone.
stop() {
    kill $SERVER 2>/dev/null || true
    wait $SERVER 2>/dev/null || true
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

# Each DIP is built around one METS of tests/fixtures/mets, whose README names
# the source of each. 01 is an Archivematica 1.12 AIP of ten images, and 05 an
# arranged SIP with a "Hierarchical" structMap and one MP3. 06 is a DSpace item
# with one PDF, whose OCR file gets the text below.
OCR_WORD=wildebeest
OCR_TEXT="Field notes, Serengeti, May 2006. At dawn the $OCR_WORD herds crossed \
the river below the camp; we counted zebra and gazelle on the far bank."
DIPS="$DEPOSITUM_DATA_DIR/demo-dips"
rm -rf "$DIPS"
mkdir -p "$DEPOSIT_DIR"

# Build a DIP around a fixture METS, passing extra options to tests.dips. The
# client then copies it into the deposit directory with rsync, deposits it and
# waits until its ingest ends.
deposit_dip() {
    METS=$1
    shift
    DIP=$("$BIN/python" -m tests.dips "tests/fixtures/mets/$METS" "$DIPS" "$@")
    echo
    echo "Depositing $(basename "$DIP")"
    "$BIN/depositum" deposit "$DIP" --url "$URL" --target demo \
        --user demo --password demo --rsync-target "$DEPOSIT_DIR/" --wait \
        --poll-interval 0.5
}

deposit_dip 01_aipscan_images_am1.12.xml
deposit_dip 05_metsrw_arranged_sip_hierarchical_am1.15.xml
deposit_dip 06_metsrw_dmdsecs_in_filesec_ocr_am1.14.xml --ocr-text "$OCR_TEXT"

echo
echo "Home page:  $URL/   Admin: $URL/admin/ (user demo, password demo)"
echo "OCR search: the word \"$OCR_WORD\" finds the PDF of the DSpace item by its OCR text:"
echo "            $URL/search?q=$OCR_WORD"
echo "depositum is serving on $URL; press Ctrl-C to stop."
wait $SERVER
