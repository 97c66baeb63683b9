"""Cryptographic helpers that do not depend on users: CSRF tokens (``csrf``) and personal
data at rest — encryption, keyed lookup hashes and masking (``personal_data``, ``masking``)."""
