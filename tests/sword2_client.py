"""Drive the PyPI sword2 client against a depositum server and print a JSON report.

It runs in a virtualenv of its own, because sword2 0.3 pins lxml below 5, so it
imports nothing from depositum or the test suite.

Usage: python sword2_client.py SERVICE_DOCUMENT_URL USER PASSWORD ZIP [--in-progress]
"""

import json
import sys
import time

import sword2

PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
FINAL_STATES = ("urn:depositum:state:completed", "urn:depositum:state:failed")


def main(service_document, user, password, zip_path, in_progress=False):
    connection = sword2.Connection(service_document, user_name=user, user_pass=password)
    connection.get_service_document()
    (workspace_title, collections), *_ = connection.workspaces
    collection = collections[0]

    with open(zip_path, "rb") as payload:
        receipt = connection.create(
            col_iri=collection.href,
            payload=payload,
            mimetype="application/zip",
            filename="dip.zip",
            packaging=PACKAGING,
            in_progress=in_progress,
        )
    report = {
        "version": connection.sd.version,
        "collection": collection.href,
        "create_code": receipt.code,
        "edit": receipt.edit,
        "edit_media": receipt.edit_media,
        "se_iri": receipt.se_iri,
        "atom_statement": receipt.atom_statement_iri,
        "ore_statement": receipt.ore_statement_iri,
        "valid": receipt.valid,
        "summary": receipt.summary,
        "states": [],
    }

    if in_progress:
        completed = connection.complete_deposit(se_iri=receipt.se_iri)
        report["complete_code"] = completed.code

    fetched = connection.get_deposit_receipt(receipt.edit)
    report["receipt_code"] = fetched.code

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statement = connection.get_atom_sword_statement(receipt.atom_statement_iri)
        state = statement.states[0]
        if not report["states"] or report["states"][-1] != list(state):
            report["states"].append(list(state))
        if state[0] in FINAL_STATES:
            break
        time.sleep(0.2)

    ore = connection.get_ore_sword_statement(receipt.ore_statement_iri)
    report["ore_states"] = [list(state) for state in ore.states]
    print(json.dumps(report))


if __name__ == "__main__":
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    main(*args, in_progress="--in-progress" in sys.argv)
