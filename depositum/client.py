"""The depositor's client: send a DIP over SWORD and follow its deposit.

It needs no database or settings, only the service's URL and credentials, so it
runs on the depositor's machine.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import requests
from lxml import etree
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
SWORD_NS = "http://purl.org/net/sword/"
ATOM_NS = "http://www.w3.org/2005/Atom"
USER_AGENT = "depositum-client"
# Extensions worth compressing; access copies are mostly compressed already.
DEFLATE_SUFFIXES = {".xml", ".txt", ".csv", ".json", ".html", ".tsv"}
FINISHED = ("completed", "failed")


class ClientError(Exception):
    pass


def build_parser():
    parser = argparse.ArgumentParser(prog="depositum")
    commands = parser.add_subparsers(dest="command", required=True)

    deposit = commands.add_parser(
        "deposit", help="send a DIP folder to a depositum server over SWORD"
    )
    deposit.add_argument(
        "dip_dir",
        metavar="DIP_DIR",
        type=Path,
        help="the DIP folder: <name>-<AIP UUID> with METS.<AIP UUID>.xml and objects/",
    )
    deposit.add_argument(
        "--url", required=True, help="base URL of the server, e.g. http://host:8000"
    )
    deposit.add_argument(
        "--target", required=True, help="slug of the target description"
    )
    add_credentials(deposit)
    deposit.add_argument(
        "--rsync-target",
        metavar="DEST",
        help="rsync the folder to DEST (the server's deposit directory, local or"
        " host:path) and deposit it by reference instead of uploading a zip",
    )
    deposit.add_argument(
        "--wait",
        action="store_true",
        help="follow the deposit until it ends; exit 0 if completed, 1 if failed",
    )
    deposit.add_argument(
        "--poll-interval", type=float, default=2.0, help="seconds between polls"
    )
    deposit.add_argument(
        "--timeout",
        type=float,
        default=0,
        help="with --wait, give up after this many seconds (default: never)",
    )

    status = commands.add_parser("status", help="print the state of one deposit")
    status.add_argument("deposit", metavar="URL_OR_ID")
    status.add_argument(
        "--url",
        default=os.getenv("DEPOSITUM_URL", ""),
        help="base URL of the server, needed with a deposit id (DEPOSITUM_URL)",
    )
    add_credentials(status)
    return parser


def add_credentials(parser):
    parser.add_argument(
        "--user",
        default=os.getenv("DEPOSITUM_USER", ""),
        help="user name or email address on the server (DEPOSITUM_USER)",
    )
    parser.add_argument(
        "--password",
        default=os.getenv("DEPOSITUM_PASSWORD", ""),
        help="the user's password (DEPOSITUM_PASSWORD)",
    )


def main(argv):
    args = build_parser().parse_args(argv)
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    # A status poll may reuse a connection the server has just closed; GETs
    # are safe to send again.
    retries = Retry(total=5, backoff_factor=0.5, allowed_methods={"GET"})
    session.mount("http://", HTTPAdapter(max_retries=retries))
    session.mount("https://", HTTPAdapter(max_retries=retries))
    if args.user:
        session.auth = (args.user, args.password)

    try:
        if args.command == "status":
            return print_status(session, status_url(args.deposit, args.url))
        return deposit(session, args)
    except ClientError as e:
        print(f"depositum: {e}", file=sys.stderr)
        return 2
    except requests.RequestException as e:
        print(f"depositum: request failed: {e}", file=sys.stderr)
        return 2


def deposit(session, args):
    dip_dir = args.dip_dir.resolve()
    if not dip_dir.is_dir():
        raise ClientError(f"{args.dip_dir} is not a folder: give the DIP folder")
    if not args.user:
        raise ClientError("no user: pass --user or set DEPOSITUM_USER")

    url = f"{args.url.rstrip('/')}/sword/deposit/{args.target}"
    headers = {"X-Packaging": DIP_PACKAGING, "Content-Type": "application/zip"}
    if args.rsync_target:
        rsync(dip_dir, args.rsync_target)
        # Header values are Latin-1, and the server decodes %-escapes too.
        headers["Content-Location"] = f"file:///{quote(dip_dir.name)}"
        response = session.post(url, headers=headers, data=b"", allow_redirects=False)
    else:
        response = upload(session, url, headers, dip_dir)

    if response.status_code not in (200, 201, 202, 302):
        raise ClientError(
            f"the server responded {response.status_code}: {error_summary(response)}"
        )
    location = response.headers.get("Location")
    if not location:
        raise ClientError("the server accepted the deposit but sent no Location")

    print(f"Deposit accepted: {location}")
    if not args.wait:
        return 0
    status = wait(session, location, args.poll_interval, args.timeout)
    return 0 if status["state"] == "completed" else 1


def rsync(dip_dir, dest):
    # The same options as Archivematica's own upload to an access system.
    command = ["rsync", "--protect-args", "-rltz", "-P", "--chmod=ugo=rwX"]
    command += [str(dip_dir), dest]
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ClientError(
            "rsync is not installed: install it, or omit --rsync-target"
        ) from None
    except subprocess.CalledProcessError as e:
        raise ClientError(
            f"rsync to {dest} failed with status {e.returncode}"
        ) from None


def upload(session, url, headers, dip_dir):
    """Zip the DIP folder to a temporary file and POST it as the request body."""
    with tempfile.TemporaryFile(suffix=".zip") as spool:
        md5 = zip_folder(dip_dir, spool)
        spool.seek(0)
        headers = dict(headers)
        headers["Content-MD5"] = md5
        filename = quote(f"{dip_dir.name}.zip")
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return session.post(url, headers=headers, data=spool, allow_redirects=False)


def zip_folder(folder, spool):
    """Write `folder` into the zip `spool`, the folder itself at the root.

    Return the hex MD5 of the zip.
    """
    with zipfile.ZipFile(spool, "w", allowZip64=True) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = f"{folder.name}/{path.relative_to(folder).as_posix()}"
            compression = (
                zipfile.ZIP_DEFLATED
                if path.suffix.lower() in DEFLATE_SUFFIXES
                else zipfile.ZIP_STORED
            )
            archive.write(path, name, compress_type=compression)

    spool.seek(0)
    md5 = hashlib.md5()
    for chunk in iter(lambda: spool.read(1024 * 1024), b""):
        md5.update(chunk)
    return md5.hexdigest()


def error_summary(response):
    try:
        document = etree.fromstring(
            response.content, etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError:
        return response.text[:500] or response.reason
    summary = document.findtext(f"{{{ATOM_NS}}}summary")
    return summary or response.reason


def status_url(deposit, base_url):
    if deposit.startswith(("http://", "https://")):
        return deposit
    if not deposit.isdigit():
        raise ClientError(f"{deposit!r} is neither a status URL nor a deposit id")
    if not base_url:
        raise ClientError("a deposit id needs --url or DEPOSITUM_URL")
    return f"{base_url.rstrip('/')}/api/deposits/{deposit}"


def fetch_status(session, url):
    response = session.get(url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise ClientError(f"{url} responded {response.status_code}")
    return response.json()


def describe(status):
    progress = status["progress"]
    line = f"Deposit {status['id']}: {status['state']}"
    if progress["total"]:
        line += f", {progress['done']} of {progress['total']} files"
    return line


def print_status(session, url):
    status = fetch_status(session, url)
    print(describe(status))
    print_outcome(status)
    return 0 if status["state"] != "failed" else 1


def print_outcome(status):
    for warning in status["warnings"]:
        print(f"  warning: {warning}")
    if status["error"]:
        print(f"  error: {status['error']}")
    if status.get("description_url"):
        print(f"Catalogue: {status['description_url']}")


def wait(session, url, interval, timeout):
    """Poll `url` until the deposit ends, showing its progress on one line."""
    started = time.monotonic()
    last = ""
    while True:
        status = fetch_status(session, url)
        line = describe(status)
        if line != last:
            end = "\n" if status["state"] in FINISHED or not sys.stdout.isatty() else ""
            print(f"\r{line}", end=end, flush=True)
            last = line
        if status["state"] in FINISHED:
            print_outcome(status)
            return status
        if timeout and time.monotonic() - started > timeout:
            raise ClientError(
                f"deposit {status['id']} still {status['state']} after {timeout}s"
            )
        time.sleep(interval)
