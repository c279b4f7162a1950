// A resource server's validation of a JWT access token, RFC 9068 §4, with
// panva's jose: the signature against the JWKS, `typ: at+jwt`, RS256 only,
// the issuer, the audience, the times, the required claims. Driven by
// tests/tests/jwt_access_tokens.rs: argv[2] is {jwks, token, issuer,
// audience, now}; prints {payload, header} or {code, message}.
import { createLocalJWKSet, jwtVerify } from 'jose';

const { jwks, token, issuer, audience, now } = JSON.parse(process.argv[2]);
try {
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer,
    audience,
    algorithms: ['RS256'],
    typ: 'at+jwt',
    currentDate: new Date(now * 1000),
    requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
  });
  console.log(JSON.stringify({ payload, header: protectedHeader }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message }));
}
