"""Throw-away PKI for the local kube-apiserver: a CA, a serving cert, an admin client cert,
and the service-account signing key pair. Everything expires in a day.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    """Paths of the generated files."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path

    @classmethod
    def at(cls, directory: Path) -> Pki:
        """The files `generate` wrote to ``directory``."""
        return cls(
            ca_cert=directory / "ca.crt",
            serving_cert=directory / "apiserver.crt",
            serving_key=directory / "apiserver.key",
            admin_cert=directory / "admin.crt",
            admin_key=directory / "admin.key",
            sa_key=directory / "sa.key",
            sa_pub=directory / "sa.pub",
        )


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class Issuer:
    """A throw-away CA that signs leaf certificates (valid for a day)."""

    def __init__(self, *, name: str = "pace-local-ca", now: datetime.datetime | None = None):
        now = now or datetime.datetime.now(datetime.UTC)
        self.start, self.end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
        self.key = _key()
        self.name = _name(name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.start)
            .not_valid_after(self.end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    def leaf(
        self,
        cn: str,
        org: str | None,
        usage: x509.ObjectIdentifier,
        sans: list[x509.GeneralName],
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = _key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, org))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.start)
            .not_valid_after(self.end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256()), key

    def write_leaf(
        self,
        directory: Path,
        stem: str,
        cn: str,
        org: str | None = None,
        *,
        server: bool = False,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
    ) -> tuple[Path, Path]:
        """Sign a client (or, with ``server``, a serving) certificate; write ``<stem>.crt``
        and ``<stem>.key``."""
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert, key = self.leaf(cn, org, usage, sans)
        crt, pem_key = directory / f"{stem}.crt", directory / f"{stem}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(pem_key, key)
        return crt, pem_key


APISERVER_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")


def generate(
    directory: Path,
    *,
    now: datetime.datetime | None = None,
    extra_ips: tuple[str, ...] = (),
    keep_ca_key: bool = False,
) -> Pki:
    """Write a fresh CA, serving and admin certificates and SA keys into ``directory``.

    ``extra_ips``: more addresses the API server is reached at (a node's host address);
    ``keep_ca_key``: also write ``ca.key``, so the node's certificates can be signed."""
    directory.mkdir(parents=True, exist_ok=True)
    issuer = Issuer(now=now)
    pki = Pki.at(directory)
    pem = serialization.Encoding.PEM
    pki.ca_cert.write_bytes(issuer.cert.public_bytes(pem))
    if keep_ca_key:
        _write_key(directory / "ca.key", issuer.key)
    issuer.write_leaf(
        directory,
        "apiserver",
        "kube-apiserver",
        server=True,
        dns=APISERVER_DNS,
        ips=("127.0.0.1", "10.0.0.1", *extra_ips),
    )
    issuer.write_leaf(directory, "admin", "pace-admin", "system:masters")
    sa = _key()
    _write_key(pki.sa_key, sa)
    pki.sa_pub.write_bytes(
        sa.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki


def load_issuer(directory: Path) -> Issuer:
    """The CA `generate(..., keep_ca_key=True)` wrote, to sign more certificates with."""
    issuer = Issuer.__new__(Issuer)
    issuer.cert = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    loaded = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    issuer.key = loaded
    issuer.name = issuer.cert.subject
    issuer.start, issuer.end = issuer.cert.not_valid_before_utc, issuer.cert.not_valid_after_utc
    return issuer
