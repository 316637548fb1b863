"""ASN.1 for the ShangMi standards; importing this package registers our OIDs with asn1crypto."""
from gm.asn1.registry import register as _register

_register()
