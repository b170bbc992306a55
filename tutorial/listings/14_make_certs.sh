#!/bin/sh
# The certificates of chapter 14's listings, made in the current directory — for the tutorial
# only: throwaway keys, trusted by nothing but these listings.
#   ca.pem, ca.key         a certificate authority of our own
#   server.pem, server.key the server's certificate for "localhost" and 127.0.0.1, signed by it
#   other.pem, other.key   a second one, for "other.test" (the SNI example)
set -eu
# An elliptic-curve key (P-256): small, and fast to sign and verify with.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"; }

# The CA: a self-signed certificate allowed to sign others (CA:TRUE, keyCertSign).
key ca
openssl req -x509 -new -key ca.key -out ca.pem -days 30 -subj /CN=tutorial-ca \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign

# A leaf: a key, a request naming it, and the CA's signature on the request. Clients check the
# subjectAltName against the host they asked for (the CN is not looked at).
leaf() {
    key "$1"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$1"
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$2" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
        -days 30 -extfile "$1.ext"
}
leaf server DNS:localhost,IP:127.0.0.1
leaf other DNS:other.test
