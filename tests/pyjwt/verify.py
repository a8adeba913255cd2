"""Verifies one authpair access token with PyJWT, a JWT library authpair did
not write, the way a relying party would: the JWK set URL read from the
discovery document, and issuer, audience, type and algorithm all required.

usage: python3 verify.py <discovery_url> <issuer> <audience> <token>
prints: "valid sub=<sub> kid=<kid>" or "invalid <PyJWT exception name>"; exit 0.
"""

import json
import sys
import urllib.request

import jwt


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    discovery_url, issuer, audience, token = sys.argv[1:]
    with urllib.request.urlopen(discovery_url, timeout=10) as response:
        jwks_uri = json.load(response)["jwks_uri"]
    try:
        # PyJWT does not check `typ`; RFC 9068 says a relying party must.
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("typ is not at+jwt")
        key = jwt.PyJWKClient(jwks_uri, timeout=10).get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )
    except jwt.PyJWTError as error:
        print(f"invalid {type(error).__name__}")
        return 0
    print(f"valid sub={claims['sub']} kid={header['kid']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
