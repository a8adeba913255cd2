// Verifies one authpair access token with jose (panva/jose), a JWT library
// authpair did not write, the way a relying party would: keys from the JWK
// set URL, and issuer, audience, type and algorithm all required.
//
// usage: node verify.mjs <jwks_uri> <issuer> <audience> <token>
// prints: "valid sub=<sub> kid=<kid>" or "invalid <jose error code>"; exit 0.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUri, issuer, audience, token] = process.argv.slice(2);
if (!token) {
  console.error('usage: node verify.mjs <jwks_uri> <issuer> <audience> <token>');
  process.exit(2);
}

const keys = createRemoteJWKSet(new URL(jwksUri));
try {
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer,
    audience,
    typ: 'at+jwt',
    algorithms: ['EdDSA'],
    requiredClaims: ['exp', 'iat', 'sub', 'jti'],
  });
  console.log(`valid sub=${payload.sub} kid=${protectedHeader.kid}`);
} catch (error) {
  if (!error.code) throw error;
  console.log(`invalid ${error.code}`);
}
