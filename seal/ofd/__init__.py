"""OFD (GB/T 33190) packages: safe reading, building, sealing, and facts for verification.

    errors.py      typed errors (OFDFormatError and its subclasses, OFDUsageError)
    package.py     safe zip reader (limits, streaming inflate, CRC) and deterministic writer
    paths.py       entry names and OFD locations (absolute / relative) in one normal form
    xmlns.py       OFD namespace and the hardened lxml parser (no DTD, no network, size cap)
    model.py       OFD.xml -> DocBody -> Document.xml, pages, shown files, Signatures, Signature.xml
    references.py  Reference CheckValue checking (SM3; "SM3"; 401.2 with Z_A)
    document.py    declarative builder: pages of text and images, sizes in mm
    signing.py     seal_ofd (Seal / Sign signatures, countersigning), signature_location
    facts.py       verify_package / inspect_package: per-signature and package facts for verify/
"""

from seal.ofd.document import Attachment, DocInfo, Image, Page, Rect, Text, build_ofd
from seal.ofd.errors import OFDError, OFDFormatError, OFDUsageError
from seal.ofd.facts import PackageFacts, SignatureFacts, inspect_package, signed_parts, verify_package

# seal_ofd is deliberately not re-exported here: ``from seal.ofd.signing import seal_ofd`` is the
# document-level sealer (it takes a make_signed_value callable); a service-level sealer that
# looks up seals and keys belongs to seal/service.py.
__all__ = ["Attachment", "DocInfo", "Image", "Page", "Rect", "Text", "build_ofd", "OFDError", "OFDFormatError",
           "OFDUsageError", "PackageFacts", "SignatureFacts", "inspect_package", "signed_parts", "verify_package"]
