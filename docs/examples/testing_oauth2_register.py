"""Registering clients of every kind with the OAuth2Emulator."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# The public key of your client's own key pair.
my_public_key_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)

# [start]
from requests_multiauth.testing import OAuth2Emulator

with OAuth2Emulator() as server:
    basic = server.register_client("client_secret_basic")       # .client_secret
    signed = server.register_client("private_key_jwt")          # .private_key_pem, .key_path, .kid, .alg
    mine = server.register_client("private_key_jwt", key=my_public_key_pem, alg="PS256")
    tls = server.register_client("tls_client_auth")             # .cert == (cert_path, key_path)
    self_signed = server.register_client("self_signed_tls_client_auth")
    dpop_only = server.register_client("client_secret_basic", dpop_bound=True)
# [end]

assert mine.alg == "PS256"
assert tls.cert == (tls.cert_path, tls.key_path)
assert basic.client_secret
assert signed.kid
assert self_signed.client_id
assert dpop_only.client_id
