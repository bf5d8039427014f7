"""The ways to make or load a DPoPKey."""

import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

cryptography_private_key = ec.generate_private_key(ec.SECP256R1())
pem_text_or_bytes = cryptography_private_key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
with open("dpop-key.pem", "wb") as f:  # the file a secret store would mount
    f.write(pem_text_or_bytes)
jwk_dict = json.loads(ECAlgorithm.to_jwk(cryptography_private_key))
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

# [start]
from requests_multiauth import DPoPKey

key = DPoPKey.generate()                      # ES256, in memory only
key = DPoPKey.generate("EdDSA")               # also ES384, ES512, RS256, PS256
key = DPoPKey("dpop-key.pem")                 # a path to a PEM (or JWK) file: /run/secrets/dpop-key.pem
key = DPoPKey(pem_text_or_bytes)              # PEM text, PKCS#8 or traditional
key = DPoPKey(jwk_dict)                       # a JWK with its private members
key = DPoPKey(cryptography_private_key)       # an object from the cryptography package
key = DPoPKey(rsa_key, alg="PS256")           # the algorithm follows the key unless given
print(key)                                    # the algorithm and the public thumbprint only
# [end]

assert key.alg == "PS256"
assert DPoPKey(jwk_dict).thumbprint == DPoPKey("dpop-key.pem").thumbprint == DPoPKey(pem_text_or_bytes).thumbprint
