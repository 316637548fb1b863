"""OFD (GB/T 33190) packages: safe reading, building, sealing, and facts for verification.

    errors.py      typed errors (OFDFormatError and its subclasses, OFDUsageError)
    package.py     safe zip reader (limits, streaming inflate, CRC) and deterministic writer
    paths.py       entry names and OFD locations (absolute / relative) in one normal form
    xmlns.py       OFD namespace and the hardened lxml parser (no DTD, no network, size cap)
    model.py       OFD.xml -> DocBody -> Document.xml, pages, shown files, Signatures, Signature.xml
    references.py  Reference CheckValue checking (SM3; "SM3"; 401.2 with Z_A)
    document.py    declarative builder: pages of text and images, sizes in mm
    signing.py     seal_ofd (Seal / Sign signatures, countersigning) and verify_package facts
"""
