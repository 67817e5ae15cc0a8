#!/usr/bin/env bash
# Writes turbo_cases.json into OUTDIR: what Debian's ruby-activesupport makes of
# turbo-rails' formats, for tests/unit/turbo (nothing here shares code with the
# gateway):
#   - signed stream names: Turbo.signed_stream_verifier.generate(name), i.e.
#     ActiveSupport::MessageVerifier.new(key, digest: "SHA256", serializer: JSON)
#     with key = key_generator.generate_key("turbo/signed_stream_verifier_key"),
#     the key generator hashing with SHA1 (Rails < 7) or SHA256 (Rails 7+ defaults);
#   - Action Cable payloads: ActiveSupport::JSON.encode(message), what Rails'
#     PostgreSQL adapter NOTIFYs for a broadcast;
#   - channel names as that adapter's NOTIFYs arrive (cable.yml's channel_prefix
#     joined with ":", SHA1 hex past 63 characters, then PostgreSQL's cut of an
#     identifier to 63 bytes), computed as its source does.
# Usage: make_turbo_fixtures.sh OUTDIR
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
mkdir -p "$1"
rm -f "$1/turbo_cases.json"

env -u RUBYOPT -u RUBYLIB -u GEM_HOME -u GEM_PATH /usr/bin/ruby - "$1" <<'RB'
require "json"
require "openssl"
require "active_support"
require "active_support/json"
require "active_support/key_generator"
require "active_support/message_verifier"

out = ARGV.fetch(0)
BASE = "3c1e0f8b6a2d4e9f7c5b3a1d0e8f6a4b2c0d9e7f5a3b1c8d6e4f2a0b9c7d5e3f" \
       "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809"
OLD_BASE = "f" * 128

# Rails 7.0's KeyGenerator#generate_key with hash_digest_class SHA256, on top of
# ActiveSupport 6.1's class (which has only SHA1).
class Sha256KeyGenerator < ActiveSupport::KeyGenerator
  def generate_key(salt, key_size = 64)
    OpenSSL::PKCS5.pbkdf2_hmac(@secret, salt, @iterations, key_size, OpenSSL::Digest::SHA256.new)
  end
end

def verifier(base, digest)
  kg = (digest == :sha256 ? Sha256KeyGenerator : ActiveSupport::KeyGenerator).new(base, iterations: 1000)
  ActiveSupport::MessageVerifier.new(kg.generate_key("turbo/signed_stream_verifier_key"),
                                     digest: "SHA256", serializer: JSON)
end

cases = []
names = ["gid://demo/Room/1:messages", "notifications", "gid://demo/User/42",
         "caf\u00e9:\u65e5\u672c:\"quoted\" name", "x" * 300]
[[:sha1, BASE], [:sha256, BASE], [:sha256, OLD_BASE]].each do |digest, base|
  names.each_with_index do |n, i|
    cases << { "name" => "ok_#{digest}_#{base == BASE ? "current" : "old"}_#{i}", "signed" => verifier(base, digest).generate(n),
               "expect" => "ok", "stream" => n }
  end
end
good = verifier(BASE, :sha256).generate("gid://demo/Room/1:messages")
data, digest = good.split("--")
cases << { "name" => "tampered_digest", "signed" => "#{data}--#{digest.tr("0123456789abcdef", "123456789abcdef0")}", "expect" => "bad_stream_signature" }
cases << { "name" => "tampered_data", "signed" => "#{Base64.strict_encode64(JSON.dump("gid://demo/Room/2:messages"))}--#{digest}", "expect" => "bad_stream_signature" }
cases << { "name" => "other_app", "signed" => verifier("0" * 128, :sha256).generate("gid://demo/Room/1:messages"), "expect" => "bad_stream_signature" }
cases << { "name" => "uppercase_digest", "signed" => "#{data}--#{digest.upcase}", "expect" => "bad_stream_signature" }
cases << { "name" => "no_separator", "signed" => data, "expect" => "malformed_stream_name" }
cases << { "name" => "sha1_digest", "signed" => ActiveSupport::MessageVerifier.new("k", digest: "SHA1", serializer: JSON).generate("n"), "expect" => "malformed_stream_name" }
cases << { "name" => "signed_hash", "signed" => verifier(BASE, :sha256).generate({ "a" => 1 }), "expect" => "not_a_stream_name" }
cases << { "name" => "signed_empty", "signed" => verifier(BASE, :sha256).generate(""), "expect" => "not_a_stream_name" }
cases << { "name" => "too_long", "signed" => verifier(BASE, :sha256).generate("y" * 4000), "expect" => "stream_name_too_long" }

payloads = ["<turbo-stream action=\"append\" target=\"messages\"><template><p id=\"m1\">Hi & \"bye\" 'x' \u2028 caf\u00e9</p></template></turbo-stream>",
            "line one\nline two\r\nline three", "", { "action" => "refresh", "n" => 1 }, [1, "two"], 42, nil]
payload_cases = payloads.each_with_index.map do |p, i|
  encoded = ActiveSupport::JSON.encode(p)
  { "name" => "payload_#{i}", "payload" => encoded, "expect" => p.is_a?(String) ? p : encoded }
end

# ActionCable::SubscriptionAdapter::PostgreSQL#channel_identifier counts characters
# (String#size); then PostgreSQL cuts an identifier of more than 63 bytes to 63 at a
# character boundary (truncate_identifier, UTF8 database) in the NOTIFY, and the
# notification arrives under that name.
def channel_identifier(prefix, name)
  channel = [prefix, name].compact.join(":")
  channel = OpenSSL::Digest::SHA1.hexdigest(channel) if channel.size > 63
  channel.byteslice(0, 63).scrub("")
end
channel_cases = [[nil, "gid://demo/Room/1:messages"], ["demo_production", "gid://demo/Room/1:messages"],
                 [nil, "a" * 63], [nil, "a" * 64], ["p", "\u00e9" * 30], ["p", "\u00e9" * 31],
                 ["p", "\u00e9" * 61], ["p", "\u00e9" * 62],
                 ["", "room"]].map do |prefix, name|
  { "prefix" => prefix, "stream" => name, "channel" => channel_identifier(prefix, name) }
end

File.write(File.join(out, "turbo_cases.json"),
           JSON.pretty_generate({ "generator" => "ActiveSupport #{ActiveSupport::VERSION::STRING}",
                                  "base" => BASE, "old_base" => OLD_BASE, "cases" => cases,
                                  "payloads" => payload_cases, "channels" => channel_cases }))
RB
