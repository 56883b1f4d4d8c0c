#!/bin/sh
# Deposit a DIP with curl alone, as any SWORD 1.3 client can, then poll the
# status link until the deposit ends.
#
#   scripts/sword1-deposit.sh URL USER PASSWORD TARGET PACKAGE
#
# PACKAGE is a zip file to upload, or the name of a DIP folder already copied
# into the server's deposit directory. Exits 0 when the deposit completed and 1
# when it failed or the server rejected it. Polling stops after TIMEOUT seconds
# (default 3600).
set -eu

if [ $# -ne 5 ]; then
    echo "usage: $0 URL USER PASSWORD TARGET PACKAGE" >&2
    exit 2
fi
URL=${1%/}
USER=$2
PASSWORD=$3
TARGET=$4
PACKAGE=$5
PACKAGING=http://purl.org/net/sword-types/METSArchivematicaDIP
TIMEOUT=${TIMEOUT:-3600}

HEADERS=$(mktemp)
BODY=$(mktemp)
trap 'rm -f "$HEADERS" "$BODY"' EXIT

if [ -f "$PACKAGE" ]; then
    MD5=$(md5sum "$PACKAGE" | cut -d' ' -f1)
    STATUS=$(curl -sS -o "$BODY" -D "$HEADERS" -w '%{http_code}' \
        -u "$USER:$PASSWORD" -H "X-Packaging: $PACKAGING" \
        -H "Content-Type: application/zip" -H "Content-MD5: $MD5" \
        -H "Content-Disposition: attachment; filename=$(basename "$PACKAGE")" \
        --data-binary "@$PACKAGE" "$URL/sword/deposit/$TARGET")
else
    STATUS=$(curl -sS -o "$BODY" -D "$HEADERS" -w '%{http_code}' -X POST \
        -u "$USER:$PASSWORD" -H "X-Packaging: $PACKAGING" \
        -H "Content-Location: file:///$PACKAGE" "$URL/sword/deposit/$TARGET")
fi

if [ "$STATUS" != 201 ] && [ "$STATUS" != 202 ]; then
    echo "Deposit rejected with status $STATUS:" >&2
    cat "$BODY" >&2
    echo >&2
    exit 1
fi

LOCATION=$(tr -d '\r' < "$HEADERS" | sed -n 's/^[Ll]ocation: //p')
echo "Deposit accepted: $LOCATION"

WAITED=0
while [ "$WAITED" -lt "$TIMEOUT" ]; do
    curl -sS -H "Accept: application/json" -o "$BODY" "$LOCATION"
    STATE=$(sed -n 's/.*"state": "\([a-z]*\)".*/\1/p' "$BODY")
    case "$STATE" in
        completed) echo "completed"; exit 0 ;;
        failed) echo "failed"; cat "$BODY"; echo; exit 1 ;;
    esac
    sleep 1
    WAITED=$((WAITED + 1))
done
echo "Deposit still $STATE after $TIMEOUT seconds: $LOCATION" >&2
exit 1
