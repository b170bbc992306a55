#!/usr/bin/env bash
# tls_make_certs.sh DIR — the certificates test_tls and test_https use, made fresh in DIR (none
# are committed): a CA; "server" for localhost and 127.0.0.1 and "other" for other.test, both
# signed by it; "expired" (signed by it, valid only in 2020); "self" (self-signed, localhost).
# EC P-256 keys: quick to make.
set -euo pipefail
dir=${1:?usage: tls_make_certs.sh DIR}
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
key ca
openssl req -x509 -new -key ca.key -out ca.pem -days 30 -subj /CN=asyncc-test-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
# signed NAME SUBJECT_ALT_NAMES [openssl ca dates...]
signed() {
    key "$1"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
        -days 30 -extfile "$1.ext" 2>/dev/null
}
signed server DNS:localhost,IP:127.0.0.1
signed other DNS:other.test
# expired: `openssl ca` is the tool of OpenSSL 3.0 that sets past dates
key expired
openssl req -new -key expired.key -out expired.csr -subj /CN=localhost
mkdir -p ca.db && : >ca.db/index.txt && echo 1000 >ca.db/serial
cat >ca.cnf <<CNF
[ca]
default_ca = test
[test]
dir = ca.db
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = leaf
[any]
commonName = supplied
[leaf]
subjectAltName = DNS:localhost,IP:127.0.0.1
CNF
openssl ca -batch -config ca.cnf -in expired.csr -out expired.pem -notext \
    -startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null
key self
openssl req -x509 -new -key self.key -out self.pem -days 30 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1
