"""E-seals and sealed documents.

- `seal.structures`: GB/T 38540 (v4) / GM/T 0031 (v1) seals and seal signatures as facts;
  build, read leniently (quirks reported), check the SM2 signatures.
- `seal.picture`: the standard red round official seal drawn with Pillow.
- `seal.service`: the seal registry (make, suspend, resume, revoke, status), seal-use
  authorisation and making SES_Signatures through the key store; all audited.
- `seal.errors`: typed errors, including one per seal-use refusal.
"""
