"""E-licenses (电子证照): types as templates, identifiers with a check character, field
validation, the rendered OFD face with QR code and metadata, the license directory and
batch issuance.

    types.py        templates (TOML/JSON): fields, face layout, validity rules
    identifiers.py  region + type + year + sequence + ISO 7064 MOD 37,36 check character
    validation.py   field checks (each error names its field), validity end dates
    fonts.py        the CJK font from fontconfig
    render.py       face -> OFD through seal/ofd's builder, QR code, metadata attachment
    service.py      issue_license, get_license, license_status, revoke_license
    batch.py        CSV batches, idempotent by external id, per-row results
"""
