#!/usr/bin/env bash
# Writes credentials made by independent implementations into OUTDIR, for the
# auth fixture tests (tests/unit/auth/*_fixture_test.cpp):
#   - keys from `openssl genpkey` (RSA 2048, EC P-256, plus a second pair of each),
#   - jwt_cases.json: tokens signed by Debian's PyJWT (python3-jwt, run by
#     /usr/bin/python3 -I so no virtualenv or pip copy can stand in for it),
#   - rails_cases.json: session cookies encrypted by Debian's ruby-activesupport
#     (ActiveSupport::KeyGenerator + MessageEncryptor, the code Rails' cookie jar
#     calls), in the Rails 5.2+ AES-256-GCM and Rails 4.x-5.1 AES-256-CBC+HMAC formats.
# Each case names the verifier configuration, the credential and the expected
# outcome ("ok" with a user, a reason code, or "refused" for any refusal).
# Nothing here shares code with the gateway. Usage: make_auth_fixtures.sh OUTDIR
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1

need() {
  if ! "$@" >/dev/null 2>&1; then
    echo "make_auth_fixtures: '$*' failed; install the Debian packages openssl, python3-jwt," \
         "python3-cryptography and ruby-activesupport" >&2
    exit 1
  fi
}
need openssl version
need /usr/bin/python3 -I -c 'import jwt, cryptography'
need env -u RUBYOPT -u RUBYLIB -u GEM_HOME -u GEM_PATH /usr/bin/ruby \
  -e 'require "active_support"; require "active_support/message_encryptor"'

mkdir -p "$out"
# Only our own outputs are replaced; OUTDIR itself may be shared.
rm -f "$out"/*.pem "$out"/jwt_cases.json "$out"/rails_cases.json

# Keys: the signing halves stay with the token makers, the gateway gets the public halves.
for name in rsa rsa_other; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out/${name}_private.pem" 2>/dev/null
  openssl pkey -in "$out/${name}_private.pem" -pubout -out "$out/${name}_public.pem"
done
for name in ec ec_other; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/${name}_private.pem"
  openssl pkey -in "$out/${name}_private.pem" -pubout -out "$out/${name}_public.pem"
done

/usr/bin/python3 -I - "$out" <<'PY'
import json, os, sys, time

import jwt
from jwt.algorithms import HMACAlgorithm
from jwt.utils import base64url_encode

out = sys.argv[1]


def read(name):
    with open(os.path.join(out, name), "rb") as f:
        return f.read()


NOW = 1700000000
SECRET = "fixture-hs256-secret-0123456789abcdef"  # 37 bytes, over the 32-byte minimum
HS = {"alg": "HS256", "secret": SECRET}
RS = {"alg": "RS256", "key_file": "rsa_public.pem"}
ES = {"alg": "ES256", "key_file": "ec_public.pem"}
rsa_key, rsa_other = read("rsa_private.pem"), read("rsa_other_private.pem")
ec_key, ec_other = read("ec_private.pem"), read("ec_other_private.pem")

cases = []


def case(name, token, verifier, expect, user=None, now=NOW, live=False, **extra):
    v = dict(verifier)
    v.update(extra)
    cases.append({"name": name, "token": token, "verifier": v, "now": now, "expect": expect,
                  "user": user, "live": live})


def claims(**kw):
    c = {"sub": "7", "iat": NOW, "exp": NOW + 300}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def tamper(token, **kw):
    """Keeps header and signature, swaps in another payload (user 8)."""
    h, _, s = token.split(".")
    body = base64url_encode(json.dumps(claims(sub="8", **kw)).encode()).decode()
    return ".".join([h, body, s])


# HS256
good = jwt.encode(claims(), SECRET, algorithm="HS256")
case("hs256_good", good, HS, "ok", "7")
case("hs256_integer_sub", jwt.encode(claims(sub=7), SECRET, algorithm="HS256"), HS, "ok", "7")
case("hs256_custom_claim", jwt.encode(claims(uid="42"), SECRET, algorithm="HS256"), HS, "ok", "42", claim="uid")
case("hs256_wrong_secret", jwt.encode(claims(), SECRET + "x", algorithm="HS256"), HS, "bad_signature")
case("hs256_tampered_payload", tamper(good), HS, "bad_signature")
case("hs256_expired", jwt.encode(claims(exp=NOW - 100), SECRET, algorithm="HS256"), HS, "expired")
case("hs256_expired_within_leeway", jwt.encode(claims(exp=NOW - 10), SECRET, algorithm="HS256"), HS, "ok", "7")
case("hs256_expired_no_leeway", jwt.encode(claims(exp=NOW - 10), SECRET, algorithm="HS256"), HS, "expired",
     leeway=0)
case("hs256_not_yet_valid", jwt.encode(claims(nbf=NOW + 100), SECRET, algorithm="HS256"), HS, "not_yet_valid")
case("hs256_nbf_within_leeway", jwt.encode(claims(nbf=NOW + 10), SECRET, algorithm="HS256"), HS, "ok", "7")
case("hs256_audience_string", jwt.encode(claims(aud="sse-gateway"), SECRET, algorithm="HS256"), HS, "ok", "7",
     audience="sse-gateway")
case("hs256_audience_array", jwt.encode(claims(aud=["billing", "sse-gateway"]), SECRET, algorithm="HS256"), HS,
     "ok", "7", audience="sse-gateway")
case("hs256_wrong_audience", jwt.encode(claims(aud="billing"), SECRET, algorithm="HS256"), HS, "bad_audience",
     audience="sse-gateway")
case("hs256_missing_audience", good, HS, "bad_audience", audience="sse-gateway")
case("hs256_unexpected_audience", jwt.encode(claims(aud="billing"), SECRET, algorithm="HS256"), HS,
     "bad_audience")
case("hs256_issuer", jwt.encode(claims(iss="https://app.example"), SECRET, algorithm="HS256"), HS, "ok", "7",
     issuer="https://app.example")
case("hs256_wrong_issuer", jwt.encode(claims(iss="https://evil.example"), SECRET, algorithm="HS256"), HS,
     "bad_issuer", issuer="https://app.example")
case("hs256_missing_claim", jwt.encode({"exp": NOW + 300}, SECRET, algorithm="HS256"), HS, "missing_claim")
case("hs256_crit_header", jwt.encode(claims(), SECRET, algorithm="HS256", headers={"crit": ["exp"]}), HS,
     "bad_alg")
case("hs512_for_hs256", jwt.encode(claims(), SECRET, algorithm="HS512"), HS, "bad_alg")
case("alg_none", jwt.encode(claims(), None, algorithm="none"), HS, "bad_alg")
case("alg_none_for_rs256", jwt.encode(claims(), None, algorithm="none"), RS, "bad_alg")
case("hs256_for_rs256", good, RS, "bad_alg")

# RS256
rs_good = jwt.encode(claims(), rsa_key, algorithm="RS256")
case("rs256_good", rs_good, RS, "ok", "7")
case("rs256_other_key", jwt.encode(claims(), rsa_other, algorithm="RS256"), RS, "bad_signature")
case("rs256_tampered_payload", tamper(rs_good), RS, "bad_signature")
case("rs256_expired", jwt.encode(claims(exp=NOW - 100), rsa_key, algorithm="RS256"), RS, "expired")
case("rs256_for_es256", rs_good, ES, "bad_alg")
case("rs512_for_rs256", jwt.encode(claims(), rsa_key, algorithm="RS512"), RS, "bad_alg")
case("ps256_for_rs256", jwt.encode(claims(), rsa_key, algorithm="PS256"), RS, "bad_alg")


# Algorithm confusion: HS256 keyed with the RSA public key PEM. PyJWT refuses to
# do this itself, so its HMAC algorithm is registered without that guard.
class UnguardedHMAC(HMACAlgorithm):
    def prepare_key(self, key):
        return key if isinstance(key, bytes) else key.encode()


jws = jwt.PyJWS()
jws.unregister_algorithm("HS256")
jws.register_algorithm("HS256", UnguardedHMAC(HMACAlgorithm.SHA256))
confused = jws.encode(json.dumps(claims()).encode(), read("rsa_public.pem"), algorithm="HS256")
case("confusion_hs256_keyed_with_rsa_public_key", confused, RS, "bad_alg")
# Control: the same token is a correct HS256 token for that key, so the refusal above is the alg check.
case("confusion_control_hs256_with_pem_secret", confused, {"alg": "HS256", "secret_file": "rsa_public.pem"}, "ok",
     "7")

# ES256
es_good = jwt.encode(claims(), ec_key, algorithm="ES256")
case("es256_good", es_good, ES, "ok", "7")
case("es256_other_key", jwt.encode(claims(), ec_other, algorithm="ES256"), ES, "bad_signature")
case("es256_tampered_payload", tamper(es_good), ES, "bad_signature")
case("es256_for_rs256", es_good, RS, "bad_alg")
case("es256_not_yet_valid", jwt.encode(claims(nbf=NOW + 100), ec_key, algorithm="ES256"), ES, "not_yet_valid")

# Live tokens for the authenticator, checked against the real clock.
now = int(time.time())
live = {"sub": "7", "iat": now, "exp": now + 86400}
case("live_hs256", jwt.encode(live, SECRET, algorithm="HS256"), HS, "ok", "7", now=now, live=True)
case("live_rs256", jwt.encode(live, rsa_key, algorithm="RS256"), RS, "ok", "7", now=now, live=True)
case("live_es256", jwt.encode(live, ec_key, algorithm="ES256"), ES, "ok", "7", now=now, live=True)
case("live_hs256_expired", jwt.encode(dict(live, exp=now - 3600), SECRET, algorithm="HS256"), HS, "expired",
     now=now, live=True)

with open(os.path.join(out, "jwt_cases.json"), "w") as f:
    json.dump({"generator": "PyJWT " + jwt.__version__, "cases": cases}, f, indent=1)
PY

env -u RUBYOPT -u RUBYLIB -u GEM_HOME -u GEM_PATH /usr/bin/ruby - "$out" <<'RB'
require "json"
require "uri"
require "openssl"
require "active_support"
require "active_support/json"
require "active_support/key_generator"
require "active_support/message_encryptor"

out = ARGV.fetch(0)

SECRET_KEY_BASE = "8f0c2b6c0c0f5e1b8a9d4c3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a" \
                  "2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"
OTHER_SECRET_KEY_BASE = "0" * 128
COOKIE = "_authy_demo_session"
NULL = ActiveSupport::MessageEncryptor::NullSerializer

# Rails 7's KeyGenerator with hash_digest_class: OpenSSL::Digest::SHA256 (the
# Rails 7.0 default). ActiveSupport 6.1 lacks the option; this is Rails 7.0's
# generate_key body on top of 6.1's class.
class Sha256KeyGenerator < ActiveSupport::KeyGenerator
  def generate_key(salt, key_size = 64)
    OpenSSL::PKCS5.pbkdf2_hmac(@secret, salt, @iterations, key_size, OpenSSL::Digest::SHA256.new)
  end
end

def keygen(skb, digest = :sha1)
  # Rails.application.key_generator uses 1000 iterations.
  (digest == :sha256 ? Sha256KeyGenerator : ActiveSupport::KeyGenerator).new(skb, iterations: 1000)
end

# ActionDispatch::Cookies with use_authenticated_cookie_encryption (Rails 5.2+):
# the jar serializes the session (JSON), the encryptor adds the metadata envelope.
def gcm_cookie(serialized, skb: SECRET_KEY_BASE, digest: :sha1, purpose: nil, expires_at: nil)
  secret = keygen(skb, digest).generate_key("authenticated encrypted cookie",
                                            ActiveSupport::MessageEncryptor.key_len("aes-256-gcm"))
  enc = ActiveSupport::MessageEncryptor.new(secret, cipher: "aes-256-gcm", serializer: NULL)
  enc.encrypt_and_sign(serialized, purpose: purpose, expires_at: expires_at)
end

# ActionDispatch::Cookies::EncryptedCookieJar of Rails 4.x-5.1.
def cbc_cookie(serialized, skb: SECRET_KEY_BASE, digest: :sha1)
  kg = keygen(skb, digest)
  secret = kg.generate_key("encrypted cookie")[0, ActiveSupport::MessageEncryptor.key_len("aes-256-cbc")]
  sign_secret = kg.generate_key("signed encrypted cookie")
  enc = ActiveSupport::MessageEncryptor.new(secret, sign_secret, cipher: "aes-256-cbc", digest: "SHA1",
                                            serializer: NULL)
  enc.encrypt_and_sign(serialized)
end

# What the browser sends back: Rack escapes cookie values with this.
def escape(v) = URI.encode_www_form_component(v)

def json(h) = ActiveSupport::JSON.encode(h)

session = { "session_id" => "3f2a9c0e5d7b4a1f8e6c2b9d0a7f5e3c", "_csrf_token" => "q0Yb1x2Vf3Zk4Lp5Nm6Qr7St8Uv9Wx0Y=",
            "pre_2fa_auth_user_id" => 7 }
purpose = "cookie.#{COOKIE}"
future = Time.utc(2100, 1, 1)
past = Time.utc(2001, 1, 1)

cases = []
add = lambda do |name, cookie, expect, user: nil, digest: "", keys: ["pre_2fa_auth_user_id"], skb: SECRET_KEY_BASE|
  cases << { "name" => name, "secret_key_base" => skb, "cookie_name" => COOKIE, "key_digest" => digest,
             "keys" => keys, "cookie" => cookie, "expect" => expect, "user" => user }
end

# Rails 5.2+ (AES-256-GCM)
gcm61 = gcm_cookie(json(session), purpose: purpose)
add.("gcm_sha1_rails61", escape(gcm61), "ok", user: "7")
add.("gcm_sha1_rails61_digest_sha1", escape(gcm61), "ok", user: "7", digest: "sha1")
add.("gcm_sha1_rails61_digest_sha256_configured", escape(gcm61), "bad_signature", digest: "sha256")
gcm70 = gcm_cookie(json(session.merge("pre_2fa_auth_user_id" => "42")), digest: :sha256, purpose: purpose)
add.("gcm_sha256_rails70", escape(gcm70), "ok", user: "42")
add.("gcm_sha256_rails70_digest_sha256", escape(gcm70), "ok", user: "42", digest: "sha256")
add.("gcm_rails52_no_envelope", escape(gcm_cookie(json(session))), "ok", user: "7")
add.("gcm_expires_in_future", escape(gcm_cookie(json(session), purpose: purpose, expires_at: future)), "ok",
     user: "7")
add.("gcm_expiry_only_envelope_rails52", escape(gcm_cookie(json(session), expires_at: future)), "ok", user: "7")
add.("gcm_expired", escape(gcm_cookie(json(session), purpose: purpose, expires_at: past)), "expired")
add.("gcm_wrong_purpose", escape(gcm_cookie(json(session), purpose: "cookie.remember_token")), "wrong_purpose")
ct, iv, tag = gcm61.split("--")
raw = Base64.strict_decode64(ct)
raw.setbyte(0, raw.getbyte(0) ^ 1)
add.("gcm_tampered_ciphertext", escape([Base64.strict_encode64(raw), iv, tag].join("--")), "bad_signature")
add.("gcm_truncated", escape(gcm61)[0...-12], "refused")
add.("gcm_missing_tag", escape([ct, iv].join("--")), "refused")
add.("gcm_wrong_secret", escape(gcm_cookie(json(session), skb: OTHER_SECRET_KEY_BASE, purpose: purpose)),
     "bad_signature")
add.("gcm_marshal_in_envelope", escape(gcm_cookie(Marshal.dump(session), purpose: purpose)), "marshal_session")
add.("gcm_marshal_rails52", escape(gcm_cookie(Marshal.dump(session))), "marshal_session")
add.("gcm_fallback_key", escape(gcm_cookie(json("session_id" => "x", "user_id" => 9), purpose: purpose)), "ok",
     user: "9", keys: %w[pre_2fa_auth_user_id user_id])
add.("gcm_missing_key", escape(gcm_cookie(json("session_id" => "x"), purpose: purpose)), "missing_key",
     keys: %w[pre_2fa_auth_user_id user_id])
# Rails 7.1 (use_message_serializer_for_metadata): the envelope carries the
# session itself under "data". 6.1 cannot write it, so the envelope is spelled
# out here and encrypted by the real encryptor.
add.("gcm_rails71_data_envelope",
     escape(gcm_cookie(json("_rails" => { "data" => session, "pur" => purpose }), digest: :sha256)), "ok",
     user: "7")
add.("gcm_rails71_data_envelope_wrong_purpose",
     escape(gcm_cookie(json("_rails" => { "data" => session, "pur" => "cookie.other" }), digest: :sha256)),
     "wrong_purpose")

# Rails 4.x-5.1 (AES-256-CBC + HMAC-SHA1)
cbc = cbc_cookie(json(session))
add.("cbc_rails4", escape(cbc), "ok", user: "7")
add.("cbc_rails4_digest_sha1", escape(cbc), "ok", user: "7", digest: "sha1")
data, digest = cbc.split("--")
add.("cbc_tampered_hmac", escape("#{data}--#{digest[0...-1]}#{digest[-1] == "0" ? "1" : "0"}"), "bad_signature")
add.("cbc_tampered_data", escape("#{data[0] == "A" ? "B" : "A"}#{data[1..]}--#{digest}"), "bad_signature")
add.("cbc_truncated", escape(cbc)[0...-5], "refused")
add.("cbc_wrong_secret", escape(cbc_cookie(json(session), skb: OTHER_SECRET_KEY_BASE)), "bad_signature")
add.("cbc_marshal_rails40", escape(cbc_cookie(Marshal.dump(session))), "marshal_session")
add.("cbc_sha256_keygen_rails7_legacy", escape(cbc_cookie(json(session), digest: :sha256)), "ok", user: "7")

File.write(File.join(out, "rails_cases.json"),
           JSON.pretty_generate({ "generator" => "ActiveSupport #{ActiveSupport::VERSION::STRING}",
                                  "cases" => cases }))
RB

echo "make_auth_fixtures: wrote $(ls "$out" | wc -l) files to $out" >&2
