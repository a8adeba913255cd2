"""Validates authpair's authorization server metadata with Authlib's RFC 8414
model (authlib.oauth2.rfc8414.AuthorizationServerMetadata), a validator
authpair did not write.

usage: python3 validate_metadata.py <metadata_url>
prints: one JSON object, each member a metadata name whose check failed and
its message ({} when every check passes); exit 0 once the document is read.

Each check of AuthorizationServerMetadata.validate() runs on its own, so one
failure does not hide the others.
"""

import json
import sys
import urllib.request

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with urllib.request.urlopen(sys.argv[1], timeout=10) as response:
        metadata = AuthorizationServerMetadata(json.load(response))
    failures = {}
    for key in AuthorizationServerMetadata.REGISTRY_KEYS:
        try:
            getattr(metadata, f"validate_{key}")()
        except ValueError as error:
            failures[key] = str(error)
    print(json.dumps(failures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
