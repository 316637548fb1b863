"""The quick paths of the Signature.xml walk (seal/ofd/model.py) read exactly what the plain
walk of seal.ofd.xmlns reads: the first CheckValue / BaseLoc child looked at before all of them,
StampAnnots remembered by their attributes, and the "!" pre-scan of the DTD refusal.

Each odd Signature.xml is read by parse_signature and by a plain walk written here with the
xmlns helpers (first child of a local name, any namespace or none, comments and PIs skipped).
A Signature.xml read through the template of one read before (seal/ofd/templates.py) reads as
the same document walked, and is walked whenever it leaves the template's shape.
An OFD.xml that differs from the one read before only in texts other than DocRoot and
Signatures (MarkupTemplate) reads the same bodies without a parse, and is parsed otherwise.
"""
from __future__ import annotations

import io
import zipfile

import pytest

from seal.ofd import model
from seal.ofd import xmlns as X
from seal.ofd.errors import OFDXMLError
from seal.ofd.model import _floats, parse_signature
from seal.ofd.package import OFDPackage
from seal.ofd.paths import resolve

NS = X.OFD_NS
SIG = "Doc_0/Signs/Sign_0/Signature.xml"
WALK = model._walk_signature_xml


def package(files: dict[str, bytes]) -> OFDPackage:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data, zipfile.ZIP_DEFLATED)
    return OFDPackage(buf.getvalue())


def signature(references: str, seal: str = "<s:Seal><s:BaseLoc>Seal.esl</s:BaseLoc></s:Seal>",
              stamps: str = "") -> bytes:
    return (f'<s:Signature xmlns:s="{NS}" xmlns:o="urn:other"><s:SignedInfo>'
            f'<s:References CheckMethod="1.2.156.10197.1.401">{references}</s:References>'
            f'{stamps}{seal}</s:SignedInfo><s:SignedValue>SignedValue.dat</s:SignedValue></s:Signature>').encode()


def plain_walk(xml: bytes) -> tuple[list[tuple[str, str]], str | None, list[tuple]]:
    """(FileRef, CheckValue text) per Reference, the Seal BaseLoc, and the StampAnnot fields,
    read with the general helpers only."""
    signed_info = X.child(X.parse_xml(xml, name=SIG), "SignedInfo")
    refs = []
    for ref in X.children(X.child(signed_info, "References"), "Reference"):
        value = X.child(ref, "CheckValue")
        refs.append((ref.get("FileRef", ""), (value.text or "").strip() if value is not None else ""))
    seal_el = X.child(signed_info, "Seal")
    stamps = [(a.get("ID"), a.get("PageRef"), _floats(a.get("Boundary"), 4), _floats(a.get("Clip"), 4))
              for a in X.children(signed_info, "StampAnnot")]
    return refs, X.text(seal_el, "BaseLoc") if seal_el is not None else None, stamps


ODD_REFERENCES = [
    '<s:Reference FileRef="/a.xml"><s:CheckValue>AAAA</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><!-- c --><s:CheckValue>AAAA</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><?pi x?><s:CheckValue> AAAA </s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><s:Other>BBBB</s:Other><s:CheckValue>AAAA</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><o:CheckValue>AAAA</o:CheckValue><s:CheckValue>BBBB</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><CheckValue>AAAA</CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><s:CheckValue>AAAA</s:CheckValue><s:CheckValue>BBBB</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><s:CheckValue><!-- c -->AAAA</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><s:CheckValue><s:X/>AAAA</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"><s:CheckValue/></s:Reference>',
    '<s:Reference FileRef="/a.xml"><s:CheckValue><![CDATA[AA]]>AA</s:CheckValue></s:Reference>',
    '<s:Reference FileRef="/a.xml"/>',
    '<s:Reference><s:CheckValue>AAAA</s:CheckValue></s:Reference>',
    '<o:Reference FileRef="/b.xml"><o:CheckValue>AAAA</o:CheckValue></o:Reference>',
    '<Reference FileRef="/c.xml"><CheckValue>AAAA</CheckValue></Reference><!-- c --><?pi?>',
    '<s:ReferenceX FileRef="/d.xml"><s:CheckValue>AAAA</s:CheckValue></s:ReferenceX>',
    '<s:Reference FileRef="/a.xml"><s:CheckValueX>AAAA</s:CheckValueX></s:Reference>',
]

ODD_SEALS = [
    "<s:Seal><s:BaseLoc> Seal.esl </s:BaseLoc></s:Seal>",
    "<s:Seal><!-- c --><s:BaseLoc>Seal.esl</s:BaseLoc></s:Seal>",
    "<s:Seal><s:Other>x</s:Other><BaseLoc>Seal.esl</BaseLoc><s:BaseLoc>Other.esl</s:BaseLoc></s:Seal>",
    "<s:Seal><o:BaseLoc>Seal.esl</o:BaseLoc></s:Seal>",
    "<s:Seal><s:BaseLoc/></s:Seal>",
    "<s:Seal/>",
    "",
]


@pytest.mark.parametrize("references", ODD_REFERENCES)
@pytest.mark.parametrize("seal", ODD_SEALS[:3])
def test_odd_references_and_seals_read_as_the_plain_walk(references: str, seal: str) -> None:
    xml = signature(references, seal)
    info = parse_signature(package({SIG: xml}), SIG, sig_id="1", sig_type="Seal")
    refs, seal_loc, _ = plain_walk(xml)
    assert [(r.file_ref, r.check_value_text) for r in info.references] == refs
    assert info.seal_path == (resolve(seal_loc, base=SIG) if seal_loc else None)


@pytest.mark.parametrize("seal", ODD_SEALS)
def test_odd_seal_locations_read_as_the_plain_walk(seal: str) -> None:
    xml = signature(ODD_REFERENCES[0], seal)
    info = parse_signature(package({SIG: xml}), SIG, sig_id="1", sig_type="Seal")
    _, seal_loc, _ = plain_walk(xml)
    assert info.seal_path == (resolve(seal_loc, base=SIG) if seal_loc else None)


def test_stamp_annots_read_alike_whether_remembered_or_not() -> None:
    """Repeated stamps (remembered by their attributes) and outsized ones (never remembered)
    give the fields the plain walk reads, in order, in every package."""
    long_clip = " ".join(["1"] * 300)
    stamps = ('<s:StampAnnot ID="2" PageRef="1" Boundary="120 150 40 40"/>'
              '<s:StampAnnot ID="3" Boundary="1 2 x 4" Clip="0 0 1 1"/><!-- c -->'
              f'<s:StampAnnot ID="4" PageRef="1" Boundary="1 2 3 4" Clip="{long_clip}"/>'
              '<s:StampAnnot/>')
    xml = signature(ODD_REFERENCES[0], stamps=stamps)
    _, _, expected = plain_walk(xml)
    for _ in range(2):
        info = parse_signature(package({SIG: xml}), SIG, sig_id="1", sig_type="Seal")
        assert [(a.id, a.page_ref, a.boundary, a.clip) for a in info.stamp_annots] == expected


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_dtd_is_refused_with_or_without_an_exclamation_mark_elsewhere(encoding: str) -> None:
    """The "!" pre-scan only skips the keyword scan of parts holding no "!" at all; a DTD
    (which always holds one) is refused as before, in any encoding."""
    body = f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'
    with pytest.raises(OFDXMLError, match="DTD"):
        X.parse_xml(body.encode(encoding), name="r.xml")
    assert X.local(X.parse_xml(b"<r>no exclamation mark</r>", name="r.xml")) == "r"
    assert X.local(X.parse_xml(b"<r><!-- ! --><![CDATA[!]]></r>", name="r.xml")) == "r"


# --- Signature.xml read through the template of one read before (seal/ofd/templates.py) -----

DIGEST_A, DIGEST_B = "bbDOvVNuJNMJ6b4q30VPawke6XGd0CRyR0urihjsIu4=", "FYtbWWEaaH+Uu7odVM1KGc5VEAq0LUChssXQjthzAm0="


def sealed_signature(values: tuple[str, str], when: str = "2026-11-24 16:05:18", decl: str = "") -> bytes:
    refs = "".join(f'<s:Reference FileRef="/Doc_0/{n}.xml"><s:CheckValue>{v}</s:CheckValue></s:Reference>'
                   for n, v in zip(("Document", "Page"), values))
    return (f'{decl}<s:Signature xmlns:s="{NS}"><s:SignedInfo><s:Provider ProviderName="p"/>'
            f'<s:SignatureMethod>1.2.156.10197.1.501</s:SignatureMethod>'
            f'<s:SignatureDateTime>{when}</s:SignatureDateTime>'
            f'<s:References CheckMethod="1.2.156.10197.1.401">{refs}</s:References>'
            '<s:StampAnnot ID="2" PageRef="1" Boundary="120 150 40 40"/>'
            '<s:Seal><s:BaseLoc>Seal.esl</s:BaseLoc></s:Seal></s:SignedInfo>'
            '<s:SignedValue>SignedValue.dat</s:SignedValue></s:Signature>').encode()


TEMPLATE = sealed_signature((DIGEST_A, DIGEST_B))


def read_signature(xml: bytes, after: bytes | None, monkeypatch, parsed: list | None = None) -> tuple[object, int]:
    """parse_signature of ``xml`` once ``after`` was read (its template kept), and how many
    Signature.xml trees were walked for ``xml`` (each XML part parsed for it is added to ``parsed``)."""
    monkeypatch.setattr(model, "_TEMPLATES", {})
    if after is not None:
        parse_signature(package({SIG: after}), SIG, sig_id="1", sig_type="Seal")
    walked = []
    monkeypatch.setattr(model, "_walk_signature_xml", lambda *a: walked.append(1) or WALK(*a))
    pkg = package({SIG: xml, "Doc_0/Signs/Sign_0/SignedValue.dat": b"v"})
    parse = X.parse_xml
    monkeypatch.setattr(X, "parse_xml", lambda data, **kw: (parsed if parsed is not None else []).append(data)
                        or parse(data, **kw))
    try:
        return parse_signature(pkg, SIG, sig_id="1", sig_type="Seal"), len(walked)
    finally:
        monkeypatch.setattr(X, "parse_xml", parse)


@pytest.mark.parametrize("xml", [
    sealed_signature((DIGEST_B, DIGEST_A), when="2026-11-25 08:00:00"),     # as long: taken at fixed offsets
    sealed_signature(("QUFB", " " + DIGEST_A + " "), when=" 2026-1-2 "),     # other lengths, spaces to strip
    sealed_signature(("", DIGEST_A), when=""),                               # emptied texts
    sealed_signature(("AAA", "A=AA")),                                      # plain, yet not base64
])
def test_a_signature_of_the_template_shape_reads_as_walked(xml: bytes, monkeypatch) -> None:
    parsed: list[bytes] = []
    fast, walks = read_signature(xml, TEMPLATE, monkeypatch, parsed)
    walked, _ = read_signature(xml, None, monkeypatch)
    assert walks == 0 and fast == walked
    assert parsed == [], "a Signature.xml that fits the template is not parsed either"


@pytest.mark.parametrize("xml", [
    sealed_signature(("AAAA&#61;", DIGEST_A)),                  # an entity in a slot
    sealed_signature(("AA<!-- c -->AA", DIGEST_A)),             # markup in a slot
    sealed_signature(("<![CDATA[AAAA]]>", DIGEST_A)),
    sealed_signature(("AA\r\nAA", DIGEST_A)),                   # a line end lxml normalises
    sealed_signature(("AA\tAA", DIGEST_A)),
    sealed_signature(("<s:X/>AAAA", DIGEST_A)),                 # a child element: no text at all
    sealed_signature(("AAAA", DIGEST_A)).replace(b'ProviderName="p"', b'ProviderName="q"'),
    sealed_signature(("AAAA", DIGEST_A)).replace(b"SignedInfo>", b"SignedInfo >", 1),
    sealed_signature(("AAAA", DIGEST_A)) + b"<!-- after -->",
    sealed_signature(("AAAA", DIGEST_A), decl='<?xml version="1.0" encoding="UTF-8"?>'),
    sealed_signature(("文", DIGEST_A)),
])
def test_a_signature_that_leaves_the_template_shape_is_walked(xml: bytes, monkeypatch) -> None:
    parsed: list[bytes] = []
    fast, walks = read_signature(xml, TEMPLATE, monkeypatch, parsed)
    walked, _ = read_signature(xml, None, monkeypatch)
    assert walks == 1 and fast == walked and parsed == [xml]


@pytest.mark.parametrize("template", [
    sealed_signature((DIGEST_A, DIGEST_A)),                                  # one text twice
    sealed_signature((DIGEST_A, DIGEST_B)).replace(b"Seal.esl", b"Seal&#46;esl"),
    sealed_signature((DIGEST_A, DIGEST_B)).replace(b"<s:SignedValue>", b"<!-- c --><s:SignedValue>"),
    sealed_signature((DIGEST_A, DIGEST_B), decl='<?xml version="1.0" encoding="ISO-8859-1"?>'),
    sealed_signature((DIGEST_A, DIGEST_B)).replace(b'ProviderName="p"', f'ProviderName="{DIGEST_A}"'.encode()),
    sealed_signature((DIGEST_A, " " + DIGEST_B)),                            # a text not alone in its element
])
def test_no_template_is_cut_where_slots_could_be_misread(template: bytes, monkeypatch) -> None:
    read_signature(template, None, monkeypatch)
    assert [known.template for known in model._TEMPLATES.values()] == [None]
    utf16 = sealed_signature((DIGEST_A, DIGEST_B), decl='<?xml version="1.0" encoding="UTF-16"?>')
    read_signature(utf16.decode().encode("utf-16"), None, monkeypatch)
    assert [known.template for known in model._TEMPLATES.values()] == [None]


def test_slot_texts_changed_at_random_read_as_walked(monkeypatch) -> None:
    """Slot texts replaced by random strings of plain and markup characters: through the
    template or walked, the same result (or the same error) every time."""
    import random
    rng = random.Random(20261124)
    alphabet = ["A", "z", "0", "+", "/", "=", " ", ":", "-", ".", "\t", "\n", "\r", "&amp;", "&#65;", "<!--c-->",
                "<![CDATA[x]]>", "<?p?>", "<s:X/>", "é", ">", "]]>", "'", '"', "<", "&"]

    def outcome(xml: bytes, after: bytes | None) -> object:
        try:
            return read_signature(xml, after, monkeypatch)[0]
        except Exception as exc:  # noqa: BLE001 - the error itself is compared
            return type(exc), str(exc)

    for _ in range(300):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(3)]
        xml = sealed_signature((texts[0], texts[1]), when=texts[2])
        assert outcome(xml, TEMPLATE) == outcome(xml, None), texts


def test_a_new_template_is_cut_only_every_so_often_after_misses(monkeypatch) -> None:
    """Documents of another shape are walked; a template is cut again only after
    _RECUT_AFTER of them, and then serves the documents of the new shape."""
    monkeypatch.setattr(model, "_TEMPLATES", {})
    cuts = []
    cut = model.TextTemplate.cut.__func__
    monkeypatch.setattr(model.TextTemplate, "cut", classmethod(lambda cls, *a: cuts.append(1) or cut(cls, *a)))
    walks = []
    monkeypatch.setattr(model, "_walk_signature_xml", lambda *a: walks.append(1) or WALK(*a))

    def read(xml: bytes) -> None:
        parse_signature(package({SIG: xml}), SIG, sig_id="1", sig_type="Seal")

    read(TEMPLATE)
    assert (len(cuts), len(walks)) == (1, 1)
    other = [sealed_signature((DIGEST_A, DIGEST_B), when=f"2026-11-{n:02d}").replace(b'"120 ', f'"{n} '.encode())
             for n in range(10, 10 + model._RECUT_AFTER + 3)]
    for xml in other[:model._RECUT_AFTER]:
        read(xml)
    assert len(cuts) == 2 and len(walks) == 1 + model._RECUT_AFTER
    last = other[model._RECUT_AFTER - 1]                        # the shape cut last: fitted, not walked
    read(last.replace(DIGEST_A.encode(), DIGEST_B.encode()).replace(b"2026-11-25", b"2026-12-31"))
    assert len(walks) == 1 + model._RECUT_AFTER


# --- OFD.xml read through the markup template of the one read before (MarkupTemplate) --------

def ofd_xml(doc_id: str = "440300YYZZ2026000000", title: str = "营业执照 440300YYZZ2026000000",
            doc_root: str = "Doc_0/Document.xml", signatures: str = "/Doc_0/Signs/Signatures.xml",
            decl: str = "<?xml version='1.0' encoding='UTF-8'?>\n") -> bytes:
    """An OFD.xml as seal/license writes one: DocInfo differs from license to license."""
    return (f'{decl}<ofd:OFD xmlns:ofd="{NS}" Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocInfo>'
            f'<ofd:DocID>{doc_id}</ofd:DocID><ofd:Title>{title}</ofd:Title><ofd:Author>某局</ofd:Author>'
            f'<ofd:CustomDatas><ofd:CustomData Name="LicenseID">{doc_id}</ofd:CustomData>'
            f'<ofd:CustomData Name="HolderName"/></ofd:CustomDatas></ofd:DocInfo>'
            f'<ofd:DocRoot>{doc_root}</ofd:DocRoot><ofd:Signatures>{signatures}</ofd:Signatures>'
            '</ofd:DocBody></ofd:OFD>').encode("utf-8", "surrogateescape")   # "\udcff": the byte 0xff


def read_bodies(xml: bytes, after: bytes | None, monkeypatch, parsed: list | None = None) -> object:
    """doc_bodies of an OFD.xml once ``after`` was read (its template kept); each XML part
    parsed for ``xml`` is added to ``parsed``. An error is returned as (type, message)."""
    monkeypatch.setattr(model, "_OUTLINES", {})
    monkeypatch.setattr(model, "_SHAPES", {})
    if after is not None:
        model.doc_bodies(package({"OFD.xml": after}))
    parse = X.parse_xml
    monkeypatch.setattr(X, "parse_xml", lambda data, **kw: (parsed if parsed is not None else []).append(data)
                        or parse(data, **kw))
    try:
        return model.doc_bodies(package({"OFD.xml": xml}))
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return type(exc), str(exc)
    finally:
        monkeypatch.setattr(X, "parse_xml", parse)


def test_an_ofd_xml_differing_in_doc_info_only_is_read_without_a_parse(monkeypatch) -> None:
    template = ofd_xml()
    for xml in (ofd_xml("440300YYZZ2026000001", "营业执照 440300YYZZ2026000001"),
                ofd_xml("", "a title with spaces,\ttabs and\r\nline ends"),
                ofd_xml(decl="<?xml version='1.0' encoding='UTF-8'?>\n").replace(b"\xe6\x9f\x90", b"X")):
        parsed: list[bytes] = []
        fast = read_bodies(xml, template, monkeypatch, parsed)
        assert parsed == [] and fast == read_bodies(xml, None, monkeypatch) == [
            ("Doc_0/Document.xml", "Doc_0/Signs/Signatures.xml")]


@pytest.mark.parametrize("xml", [
    ofd_xml(doc_root="Doc_1/Document.xml"),                     # the texts read: never slots
    ofd_xml(doc_root="/Doc_0/Document.xml"),
    ofd_xml(signatures="Doc_0/Signs/Other.xml"),
    ofd_xml(title="a <ofd:X/> b"),                               # markup, references, quotes in a slot
    ofd_xml(title="a &amp; b"), ofd_xml(title="a &#65; b"), ofd_xml(title='a " b'), ofd_xml(title="a > b"),
    ofd_xml(title="<!-- c -->"), ofd_xml(title="<![CDATA[x]]>"),
    ofd_xml(title="a \x01 b"), ofd_xml(title="a \ufffe b"),      # characters XML does not allow
    ofd_xml(title="a \udcff b"),                                # not UTF-8
    ofd_xml().replace(b'Version="1.0"', b'Version="1.1"'),         # other markup
    ofd_xml().replace(b"</ofd:DocBody>", b"</ofd:DocBody><ofd:DocBody><ofd:DocRoot>D/Document.xml</ofd:DocRoot>"
                      b"</ofd:DocBody>"),
    ofd_xml().replace(b"<ofd:DocRoot>", b"<ofd:DocRoot>x<ofd:Y/>"),
    ofd_xml(decl=""),
])
def test_an_ofd_xml_that_leaves_the_template_is_parsed(xml: bytes, monkeypatch) -> None:
    parsed: list[bytes] = []
    fast = read_bodies(xml, ofd_xml(), monkeypatch, parsed)
    assert parsed and fast == read_bodies(xml, None, monkeypatch)


def test_ofd_xml_slot_texts_changed_at_random_read_as_parsed(monkeypatch) -> None:
    """DocInfo texts replaced by random strings of text, markup, references and bytes that
    are no UTF-8: through the template or parsed, the same bodies (or the same error)."""
    import random
    rng = random.Random(20261124)
    alphabet = ["A", "0", " ", "/", ":", "-", "\t", "\n", "\r", "文", "&amp;", "&#65;", "&", "<!--c-->",
                "<![CDATA[x]]>", "<?p?>", "<ofd:X/>", "</ofd:Title>", ">", "]]>", "'", '"', "<", "\x00", "\x1f",
                "\ufffe", "\udcff"]
    template = ofd_xml()
    for _ in range(300):
        doc_id, title = ("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6))) for _ in range(2))
        xml = ofd_xml(doc_id, title)
        assert read_bodies(xml, template, monkeypatch) == read_bodies(xml, None, monkeypatch), (doc_id, title)


def test_a_markup_template_never_cuts_into_attributes_or_kept_texts() -> None:
    from seal.ofd.templates import MarkupTemplate

    template = MarkupTemplate.cut(b'<r><a x="1>2">t</a><k>kept</k></r>', None, frozenset({"k"}))
    assert template is not None
    assert template.fits(b'<r><a x="1>2">other text</a><k>kept</k></r>')
    assert not template.fits(b'<r><a x="1>2" y="3">t</a><k>kept</k></r>')
    assert not template.fits(b'<r><a x="1>2">t</a><k>changed</k></r>')


@pytest.mark.parametrize("xml", [
    b"<r><a>t</a><!-- c --></r>", b"<r><a><![CDATA[t]]></a></r>", b"<r><?p x?><a>t</a></r>",
    b"<?xml version='1.0' encoding='ISO-8859-1'?><r><a>t</a></r>", b"\xef\xbb\xbf<r><a>t</a></r>",
])
def test_no_markup_template_is_cut_where_markup_could_hide_in_text(xml: bytes) -> None:
    from seal.ofd.templates import MarkupTemplate

    encoding = "ISO-8859-1" if b"8859" in xml else None
    assert MarkupTemplate.cut(xml, encoding, frozenset({"k"})) is None


def test_a_new_markup_template_is_cut_only_every_so_often_after_misses(monkeypatch) -> None:
    """OFD.xml parts of another shape are parsed; a template is cut again only after
    _RECUT_AFTER of them (a cut costs more than a parse), and then serves that shape."""
    from seal.ofd.templates import MarkupTemplate

    monkeypatch.setattr(model, "_OUTLINES", {})
    monkeypatch.setattr(model, "_SHAPES", {})
    cuts: list[int] = []
    cut = MarkupTemplate.cut.__func__
    monkeypatch.setattr(MarkupTemplate, "cut", classmethod(lambda cls, *a: cuts.append(1) or cut(cls, *a)))
    parsed: list[bytes] = []
    parse = X.parse_xml
    monkeypatch.setattr(X, "parse_xml", lambda data, **kw: parsed.append(data) or parse(data, **kw))

    def bodies(xml: bytes) -> object:
        return model.doc_bodies(package({"OFD.xml": xml}))

    bodies(ofd_xml())
    assert (len(cuts), len(parsed)) == (1, 1)
    other = [ofd_xml(f"ID{n}").replace(b'Version="1.0"', b'Version="1.1"') for n in range(model._RECUT_AFTER + 2)]
    for xml in other[:model._RECUT_AFTER]:
        assert bodies(xml) == [("Doc_0/Document.xml", "Doc_0/Signs/Signatures.xml")]
    assert len(cuts) == 2 and len(parsed) == 1 + model._RECUT_AFTER
    assert bodies(other[-1]) == [("Doc_0/Document.xml", "Doc_0/Signs/Signatures.xml")]   # fitted, not parsed
    assert len(parsed) == 1 + model._RECUT_AFTER


@pytest.mark.parametrize("text", ["\x7f", "\x85", "\u2028", "\ufdd0", "\U0010ffff", "\ue000", "\U0001fffe", "]]",
                                  "\xa0", "\t", "\x0b", "]]>", "\udcff"])
def test_a_markup_template_fits_exactly_what_lxml_reads(text: str) -> None:
    """Characters at the edges of XML 1.0's Char production in a slot: the template fits
    exactly the documents lxml parses (C1 controls, non-characters and the last plane are
    allowed; VT, "]]>" and bytes that are no UTF-8 are not)."""
    from seal.ofd.templates import MarkupTemplate

    def doc(t: str) -> bytes:
        return f"<?xml version='1.0' encoding='UTF-8'?>\n<r><a>{t}</a><k>x</k></r>".encode("utf-8", "surrogateescape")

    template = MarkupTemplate.cut(doc("t"), "UTF-8", frozenset({"k"}))
    try:
        X.parse_xml(doc(f"a{text}b"), name="r.xml")
        parses = True
    except OFDXMLError:
        parses = False
    assert template is not None and template.fits(doc(f"a{text}b")) is parses
