"""PDFs that must be rejected, each for one known reason.

A crawl always brings some: empty downloads, transfers cut off half way,
password-protected files and error pages saved under a .pdf name. The PDF
stage has to send each one to the rejects table with the right reason
instead of crashing, and the `expect` fact says which reason that is.

The encrypted file is written by our own small implementation of the PDF
standard security handler (RC4, 128-bit key, revision 3): MuPDF always
draws a fresh random file /ID and random key material when it encrypts, so
its output could never be byte-identical between two builds.
"""

import hashlib
import struct
from pathlib import Path

import pymupdf

from demo_corpus.digital_pdfs import A4, MARGIN, paragraph, pdf_bytes, save_pdf, write_lines
from demo_corpus.text import TextGen

OUT_DIR = "pdf/bad"
PASSWORD_PADDING = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")
PERMISSIONS = -4


def text_pdf(gen: TextGen, pages: int) -> pymupdf.Document:
    """A plain few-page text document to damage or lock."""
    doc = pymupdf.open()
    width = A4.width - 2 * MARGIN
    for number in range(1, pages + 1):
        page = doc.new_page(width=A4.width, height=A4.height)
        y = write_lines(page, [f"{number}. {gen.heading()}"], MARGIN, 80, "hebo", 14)
        for _ in range(3):
            y = paragraph(page, gen.paragraph(5), MARGIN, y, width)
    return doc


def empty(root: Path, seed: int) -> dict:
    """A zero-byte download."""
    path = f"{OUT_DIR}/empty.pdf"
    (root / path).write_bytes(b"")
    return {"path": path, "kind": "pdf-bad", "expect": "empty"}


def truncated(root: Path, seed: int) -> dict:
    """A valid four-page PDF cut off half way, as an interrupted transfer leaves it."""
    doc = text_pdf(TextGen(seed, "truncated"), 4)
    path = f"{OUT_DIR}/truncated.pdf"
    save_pdf(doc, root / path, "Truncated report", "demo_corpus")
    whole = (root / path).read_bytes()
    cut = len(whole) // 2
    (root / path).write_bytes(whole[:cut])
    return {
        "path": path,
        "kind": "pdf-bad",
        "expect": "truncated",
        "pages_before_cut": 4,
        "full_bytes": len(whole),
        "cut_at": cut,
    }


def not_pdf(root: Path, seed: int) -> dict:
    """An HTML error page saved under a .pdf name, the commonest crawl mistake."""
    gen = TextGen(seed, "not_pdf")
    html = (
        "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n"
        f"<body><h1>Not Found</h1><p>The document you asked for was moved on {gen.date()}."
        f" Please contact {gen.email(gen.name())} for a copy.</p></body></html>\n"
    )
    path = f"{OUT_DIR}/not_a_pdf.pdf"
    (root / path).write_text(html, encoding="ascii")
    return {"path": path, "kind": "pdf-bad", "expect": "not_pdf", "actual_type": "html"}


def rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def md5(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).digest()


def padded(password: str) -> bytes:
    return (password.encode("latin-1") + PASSWORD_PADDING)[:32]


def rc4_rounds(key: bytes, data: bytes) -> bytes:
    """Revision 3's twenty RC4 passes, each with the key XORed by the pass number."""
    for round_number in range(20):
        data = rc4(bytes(b ^ round_number for b in key), data)
    return data


def owner_entry(owner: str, user: str) -> bytes:
    digest = md5(padded(owner))
    for _ in range(50):
        digest = md5(digest)
    return rc4_rounds(digest, padded(user))


def file_key(user: str, owner_value: bytes, file_id: bytes) -> bytes:
    digest = md5(padded(user) + owner_value + struct.pack("<i", PERMISSIONS) + file_id)
    for _ in range(50):
        digest = md5(digest)
    return digest


def user_entry(key: bytes, file_id: bytes) -> bytes:
    return rc4_rounds(key, md5(PASSWORD_PADDING + file_id)) + bytes(16)


def object_key(key: bytes, number: int) -> bytes:
    return md5(key + number.to_bytes(3, "little") + b"\0\0")


def encrypt(plain: bytes, user: str, owner: str, file_id: bytes) -> bytes:
    """Rewrite an unencrypted, string-free PDF with every stream RC4-encrypted."""
    doc = pymupdf.open("pdf", plain)
    owner_value = owner_entry(owner, user)
    key = file_key(user, owner_value, file_id)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for xref in range(1, doc.xref_length()):
        body = doc.xref_object(xref, compressed=True)
        if "(" in body:
            raise ValueError(f"object {xref} holds a string; only streams are encrypted here")
        offsets.append(len(out))
        out += f"{xref} 0 obj\n{body}\n".encode("latin-1")
        if doc.xref_is_stream(xref):
            data = rc4(object_key(key, xref), doc.xref_stream_raw(xref))
            out += b"stream\n" + data + b"\nendstream\n"
        out += b"endobj\n"
    encrypt_xref = doc.xref_length()
    offsets.append(len(out))
    out += (
        f"{encrypt_xref} 0 obj\n<</Filter/Standard/V 2/R 3/Length 128/P {PERMISSIONS}"
        f"/O<{owner_value.hex()}>/U<{user_entry(key, file_id).hex()}>>>\nendobj\n"
    ).encode("ascii")
    xref_at = len(out)
    out += f"xref\n0 {encrypt_xref + 1}\n0000000000 65535 f \n".encode("ascii")
    out += b"".join(f"{offset:010d} 00000 n \n".encode("ascii") for offset in offsets)
    out += (
        f"trailer\n<</Size {encrypt_xref + 1}/Root {doc.pdf_catalog()} 0 R"
        f"/Encrypt {encrypt_xref} 0 R/ID[<{file_id.hex()}><{file_id.hex()}>]>>\n"
        f"startxref\n{xref_at}\n%%EOF\n"
    ).encode("ascii")
    return bytes(out)


def encrypted(root: Path, seed: int) -> dict:
    """A one-page PDF that opens only with its user password."""
    gen = TextGen(seed, "encrypted")
    password = f"demo-{gen.number(1000, 9999)}"
    doc = text_pdf(gen, 1)
    doc.xref_set_key(doc.pdf_catalog(), "Info", "null")
    plain = pdf_bytes(doc)
    file_id = md5(f"demo-corpus encrypted {seed}".encode())
    path = f"{OUT_DIR}/encrypted.pdf"
    (root / path).write_bytes(encrypt(plain, password, f"owner-{password}", file_id))
    return {
        "path": path,
        "kind": "pdf-bad",
        "expect": "encrypted",
        "password": password,
        "encryption": "RC4-128",
        "pages": 1,
    }


def write(root: Path, seed: int) -> list[dict]:
    """Write the broken PDFs under root/pdf/bad and say how each should fail."""
    root = Path(root)
    (root / OUT_DIR).mkdir(parents=True, exist_ok=True)
    return [make(root, seed) for make in (empty, truncated, encrypted, not_pdf)]
