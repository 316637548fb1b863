"""ASN.1 for the ShangMi standards; importing this package registers our OIDs with asn1crypto
and makes its ``dump()`` return what was read when a length ends in 0x80 (gm/asn1/definite.py)."""
from gm.asn1.definite import install as _install_definite
from gm.asn1.registry import register as _register

_register()
_install_definite()
