//! Certificate credential: an RSA private key and its certificate, from a PEM file (the key in clear
//! or encrypted PKCS#8) or a PFX/PKCS#12 file, and the signed JWT client assertion Entra expects
//! (research/graph-api.md §5.8). The password of an encrypted file comes from
//! AZURE_CLIENT_CERTIFICATE_PASSWORD only.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha1::Digest as _;

use super::{AssertionAlg, AuthError};

/// How long a client assertion is valid (Entra: "5-10 minutes after nbf at most").
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// A loaded certificate credential. The key never leaves this struct; `Debug` shows only the
/// file and thumbprint.
pub struct CertificateCredential {
    path: PathBuf,
    key: EncodingKey,
    cert_der: Vec<u8>,
    alg: AssertionAlg,
}

impl fmt::Debug for CertificateCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCredential")
            .field("path", &self.path)
            .field("sha1_thumbprint", &self.sha1_hex())
            .field("alg", &self.alg)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// The claims of a client assertion.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AssertionClaims {
    pub aud: String,
    pub iss: String,
    pub sub: String,
    pub jti: String,
    pub nbf: i64,
    pub iat: i64,
    pub exp: i64,
}

/// PEM text starts (after optional whitespace or a UTF-8 BOM) with "-----BEGIN" or carries it
/// after explanatory text; a PFX is binary DER starting with a SEQUENCE tag.
fn looks_like_pem(bytes: &[u8]) -> bool {
    bytes.first() != Some(&0x30) && bytes.windows(10).any(|w| w == b"-----BEGIN")
}

impl CertificateCredential {
    /// Read and check the unencrypted PEM file at `path`.
    pub fn load(path: &Path, alg: AssertionAlg) -> Result<Self, AuthError> {
        Self::load_with_password(path, alg, None)
    }

    /// Read and check the certificate file at `path`: PEM (key in clear or "ENCRYPTED PRIVATE KEY")
    /// or PFX/PKCS#12, told apart by content, not by extension. `password` opens an encrypted file.
    pub fn load_with_password(
        path: &Path,
        alg: AssertionAlg,
        password: Option<&SecretString>,
    ) -> Result<Self, AuthError> {
        let bytes = std::fs::read(path).map_err(|e| {
            AuthError::Config(format!(
                "cannot read certificate file {}: {e}",
                path.display()
            ))
        })?;
        if looks_like_pem(&bytes) {
            Self::from_pem_with_password(&bytes, path, alg, password)
        } else {
            Self::from_pkcs12(&bytes, path, alg, password)
        }
    }

    /// A PFX/PKCS#12 file: the first private key with its certificates. PFX files are nearly always
    /// encrypted; without AZURE_CLIENT_CERTIFICATE_PASSWORD the empty password is tried.
    pub fn from_pkcs12(
        bytes: &[u8],
        path: &Path,
        alg: AssertionAlg,
        password: Option<&SecretString>,
    ) -> Result<Self, AuthError> {
        let file = path.display();
        let pass = password.map(|p| p.expose_secret()).unwrap_or("");
        let store = p12_keystore::KeyStore::from_pkcs12(
            bytes,
            pass,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            let why = match &e {
                p12_keystore::error::Error::MacError(_) if password.is_none() => {
                    "it is password-protected: set AZURE_CLIENT_CERTIFICATE_PASSWORD".to_owned()
                }
                p12_keystore::error::Error::MacError(_) => {
                    "wrong password (AZURE_CLIENT_CERTIFICATE_PASSWORD)".to_owned()
                }
                other => format!(
                    "it is neither PEM nor a readable PFX/PKCS#12 file ({other}); check the path \
                     and the format (PEM with the key and certificate, or .pfx/.p12)"
                ),
            };
            AuthError::Config(format!("certificate file {file}: {why}"))
        })?;
        let Some((_, chain)) = store.private_key_chain() else {
            return Err(AuthError::Config(format!(
                "certificate file {file}: the PFX holds no private key; export it with the private key"
            )));
        };
        let mut text = pem::encode(&pem::Pem::new("PRIVATE KEY", chain.key().as_der().to_vec()));
        for cert in chain.certs() {
            text.push_str(&pem::encode(&pem::Pem::new(
                "CERTIFICATE",
                cert.as_der().to_vec(),
            )));
        }
        let text = SecretString::from(text);
        Self::from_pem(text.expose_secret().as_bytes(), path, alg)
    }

    /// [`Self::from_pem`], first decrypting an "ENCRYPTED PRIVATE KEY" (PKCS#8, PBES2) block with
    /// `password`.
    pub fn from_pem_with_password(
        bytes: &[u8],
        path: &Path,
        alg: AssertionAlg,
        password: Option<&SecretString>,
    ) -> Result<Self, AuthError> {
        let file = path.display();
        let blocks = pem::parse_many(bytes).map_err(|e| {
            AuthError::Config(format!("certificate file {file} is not valid PEM: {e}"))
        })?;
        if !blocks.iter().any(|b| b.tag() == "ENCRYPTED PRIVATE KEY") {
            return Self::from_pem(bytes, path, alg);
        }
        let Some(password) = password else {
            return Err(AuthError::Config(format!(
                "certificate file {file} holds an encrypted private key: set \
                 AZURE_CLIENT_CERTIFICATE_PASSWORD to its password"
            )));
        };
        let mut text = String::new();
        for block in &blocks {
            if block.tag() == "ENCRYPTED PRIVATE KEY" {
                let info =
                    pkcs8::EncryptedPrivateKeyInfoRef::try_from(block.contents()).map_err(|e| {
                        AuthError::Config(format!(
                            "certificate file {file}: the encrypted private key is malformed ({e})"
                        ))
                    })?;
                let key = info.decrypt(password.expose_secret()).map_err(|e| {
                    AuthError::Config(format!(
                        "certificate file {file}: cannot decrypt the private key: wrong password \
                         (AZURE_CLIENT_CERTIFICATE_PASSWORD) or unsupported encryption ({e}); \
                         PBES2 with PBKDF2 or scrypt and AES is supported"
                    ))
                })?;
                text.push_str(&pem::encode(&pem::Pem::new(
                    "PRIVATE KEY",
                    key.as_bytes().to_vec(),
                )));
            } else {
                text.push_str(&pem::encode(block));
            }
        }
        let text = SecretString::from(text);
        Self::from_pem(text.expose_secret().as_bytes(), path, alg)
    }

    /// Parse PEM text holding a `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block and one or
    /// more `CERTIFICATE` blocks; the certificate used is the first one whose public key matches the
    /// private key. `path` is only used in messages.
    pub fn from_pem(bytes: &[u8], path: &Path, alg: AssertionAlg) -> Result<Self, AuthError> {
        let file = path.display();
        let blocks = pem::parse_many(bytes).map_err(|e| {
            AuthError::Config(format!("certificate file {file} is not valid PEM: {e}"))
        })?;
        let mut key = None;
        let mut certs = Vec::new();
        for block in &blocks {
            match block.tag() {
                "PRIVATE KEY" | "RSA PRIVATE KEY" if key.is_none() => key = Some(block),
                "CERTIFICATE" => certs.push(block.contents()),
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(AuthError::Config(format!(
                        "certificate file {file} holds an encrypted private key: set \
                         AZURE_CLIENT_CERTIFICATE_PASSWORD to its password"
                    )));
                }
                "EC PRIVATE KEY" => {
                    return Err(AuthError::Config(format!(
                        "certificate file {file} holds an EC key; only RSA keys are supported"
                    )));
                }
                _ => {}
            }
        }
        let Some(key_block) = key else {
            return Err(AuthError::Config(format!(
                "certificate file {file} has no private key: it must contain a \"PRIVATE KEY\" or \
                 \"RSA PRIVATE KEY\" PEM block as well as the \"CERTIFICATE\""
            )));
        };
        if certs.is_empty() {
            return Err(AuthError::Config(format!(
                "certificate file {file} has no \"CERTIFICATE\" PEM block: append the certificate \
                 uploaded to the app registration to the key file"
            )));
        }
        let unusable = || {
            AuthError::Config(format!(
                "certificate file {file}: the private key is not a usable RSA key (PKCS#8 \"PRIVATE KEY\" or PKCS#1 \"RSA PRIVATE KEY\")"
            ))
        };
        let key = match key_block.tag() {
            "RSA PRIVATE KEY" => EncodingKey::from_rsa_der(key_block.contents()),
            _ => EncodingKey::from_rsa_pem(pem::encode(key_block).as_bytes())
                .map_err(|_| unusable())?,
        };
        // Sign once now so a broken key fails here, naming the file, not at the first token request.
        let probe = b"gdap-audit key check";
        let signature =
            jsonwebtoken::crypto::sign(probe, &key, Algorithm::RS256).map_err(|_| unusable())?;

        // The certificate whose public key verifies the probe. If none can be checked (unusual
        // certificate encoding), fall back to the first one; if some can and none match, refuse.
        let mut checked_any = false;
        let mut chosen = None;
        for der in &certs {
            let cert_pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
            let Ok(public) = jsonwebtoken::DecodingKey::from_rsa_pem(cert_pem.as_bytes()) else {
                continue;
            };
            checked_any = true;
            if jsonwebtoken::crypto::verify(&signature, probe, &public, Algorithm::RS256)
                .unwrap_or(false)
            {
                chosen = Some(der.to_vec());
                break;
            }
        }
        let cert_der = match chosen {
            Some(der) => der,
            None if checked_any => {
                return Err(AuthError::Config(format!(
                    "certificate file {file}: the private key does not belong to the certificate (their public keys differ)"
                )));
            }
            None => match certs.first() {
                Some(der) => der.to_vec(),
                None => {
                    return Err(AuthError::Config(format!(
                        "certificate file {file}: no certificate found"
                    )));
                }
            },
        };
        Ok(CertificateCredential {
            path: path.to_owned(),
            key,
            cert_der,
            alg,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn alg(&self) -> AssertionAlg {
        self.alg
    }

    /// SHA-1 thumbprint in hex, upper case, as the Entra portal shows it.
    pub fn sha1_hex(&self) -> String {
        sha1::Sha1::digest(&self.cert_der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect()
    }

    /// `x5t`: base64url (no padding) of the SHA-1 of the certificate DER.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&self.cert_der))
    }

    /// `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate DER.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&self.cert_der))
    }

    /// The JWT header for the configured algorithm.
    pub fn header(&self) -> Header {
        match self.alg {
            AssertionAlg::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.x5t_s256());
                h
            }
            AssertionAlg::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.x5t());
                h
            }
        }
    }

    /// A fresh signed assertion for `client_id` addressed to `token_url`, valid from `now` (Unix
    /// seconds) for ten minutes.
    pub fn assertion_at(
        &self,
        client_id: &str,
        token_url: &str,
        now: i64,
    ) -> Result<SecretString, AuthError> {
        let claims = AssertionClaims {
            aud: token_url.to_owned(),
            iss: client_id.to_owned(),
            sub: client_id.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        let jwt = jsonwebtoken::encode(&self.header(), &claims, &self.key).map_err(|e| {
            AuthError::Config(format!(
                "cannot sign the client assertion with {}: {e}",
                self.path.display()
            ))
        })?;
        Ok(SecretString::from(jwt))
    }

    /// [`Self::assertion_at`] now.
    pub fn assertion(&self, client_id: &str, token_url: &str) -> Result<SecretString, AuthError> {
        self.assertion_at(client_id, token_url, chrono::Utc::now().timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};
    use secrecy::ExposeSecret;

    const COMBINED: &str = include_str!("../../fixtures/certs/test-combined.pem");
    const CERT: &str = include_str!("../../fixtures/certs/test-cert.pem");
    const PUBKEY: &str = include_str!("../../fixtures/certs/test-pubkey.pem");
    const OTHER_COMBINED: &str = include_str!("../../fixtures/certs/other-combined.pem");
    const OTHER_PUBKEY: &str = include_str!("../../fixtures/certs/other-pubkey.pem");
    const SHA1_HEX: &str = "E9BA19C5FD70D774A54BEDD493A8185436B0630C";

    fn load(pem: &str, alg: AssertionAlg) -> CertificateCredential {
        CertificateCredential::from_pem(pem.as_bytes(), Path::new("test-combined.pem"), alg)
            .unwrap()
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn thumbprints_match_the_fixture() {
        let c = load(COMBINED, AssertionAlg::Ps256);
        assert_eq!(c.sha1_hex(), SHA1_HEX);
        assert_eq!(c.x5t(), URL_SAFE_NO_PAD.encode(hex_bytes(SHA1_HEX)));
        assert!(!c.x5t().contains('=') && !c.x5t().contains('+') && !c.x5t().contains('/'));
        let der = pem::parse(CERT).unwrap().into_contents();
        assert_eq!(
            c.x5t_s256(),
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der))
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(c.x5t_s256()).unwrap().len(), 32);
    }

    #[test]
    fn known_x5t_vector() {
        // research/graph-api.md §5.8.
        assert_eq!(
            URL_SAFE_NO_PAD.encode(hex_bytes("84E05C1D98BCE3A5421D225B140B36E86A3D5534")),
            "hOBcHZi846VCHSJbFAs26Go9VTQ"
        );
    }

    fn verify(
        jwt: &str,
        pubkey: &str,
        alg: Algorithm,
        aud: &str,
    ) -> jsonwebtoken::errors::Result<AssertionClaims> {
        let mut v = Validation::new(alg);
        v.set_audience(&[aud]);
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        v.validate_nbf = true;
        jsonwebtoken::decode::<AssertionClaims>(
            jwt,
            &DecodingKey::from_rsa_pem(pubkey.as_bytes()).unwrap(),
            &v,
        )
        .map(|d| d.claims)
    }

    #[test]
    fn ps256_assertion_has_the_entra_header_and_claims_and_verifies() {
        let c = load(COMBINED, AssertionAlg::Ps256);
        let aud = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
        let now = chrono::Utc::now().timestamp();
        let jwt = c.assertion_at("app-id", aud, now).unwrap();
        let jwt = jwt.expose_secret();
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        assert_eq!(header.alg, Algorithm::PS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.x5t_s256.as_deref(), Some(c.x5t_s256().as_str()));
        assert_eq!(header.x5t, None);
        // The raw header uses the JOSE name.
        let raw: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(jwt.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(raw["x5t#S256"], serde_json::json!(c.x5t_s256()));

        let claims = verify(jwt, PUBKEY, Algorithm::PS256, aud).unwrap();
        assert_eq!(claims.aud, aud);
        assert_eq!(claims.iss, "app-id");
        assert_eq!(claims.sub, "app-id");
        assert_eq!(claims.nbf, now);
        assert_eq!(claims.iat, now);
        assert_eq!(claims.exp, now + 600);
        assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
        // Not verifiable with another key.
        assert!(verify(jwt, OTHER_PUBKEY, Algorithm::PS256, aud).is_err());
    }

    #[test]
    fn rs256_assertion_uses_sha1_x5t() {
        let c = load(COMBINED, AssertionAlg::Rs256);
        let jwt = c
            .assertion("app", "https://login/t/oauth2/v2.0/token")
            .unwrap();
        let header = jsonwebtoken::decode_header(jwt.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(
            header.x5t.as_deref(),
            Some(URL_SAFE_NO_PAD.encode(hex_bytes(SHA1_HEX)).as_str())
        );
        assert_eq!(header.x5t_s256, None);
        verify(
            jwt.expose_secret(),
            PUBKEY,
            Algorithm::RS256,
            "https://login/t/oauth2/v2.0/token",
        )
        .unwrap();
    }

    #[test]
    fn every_assertion_is_fresh() {
        let c = load(COMBINED, AssertionAlg::Ps256);
        let a = c.assertion("app", "aud").unwrap();
        let b = c.assertion("app", "aud").unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    /// PKCS#8 PrivateKeyInfo = SEQ { INTEGER, SEQ AlgorithmIdentifier, OCTET STRING RSAPrivateKey }.
    fn pkcs8_to_pkcs1(der: &[u8]) -> Vec<u8> {
        fn tlv(d: &[u8]) -> (u8, usize, usize) {
            let tag = d[0];
            let (len, hdr) = if d[1] < 0x80 {
                (d[1] as usize, 2)
            } else {
                let n = (d[1] & 0x7f) as usize;
                (
                    d[2..2 + n]
                        .iter()
                        .fold(0usize, |a, b| (a << 8) | *b as usize),
                    2 + n,
                )
            };
            (tag, hdr, len)
        }
        let (_, hdr, _) = tlv(der);
        let mut rest = &der[hdr..];
        for _ in 0..2 {
            let (_, h, l) = tlv(rest);
            rest = &rest[h + l..];
        }
        let (tag, h, l) = tlv(rest);
        assert_eq!(tag, 0x04);
        rest[h..h + l].to_vec()
    }

    #[test]
    fn pkcs1_key_with_certificate_first_is_accepted() {
        let blocks = pem::parse_many(COMBINED).unwrap();
        let key = blocks.iter().find(|b| b.tag() == "PRIVATE KEY").unwrap();
        let pkcs1 = pem::Pem::new("RSA PRIVATE KEY", pkcs8_to_pkcs1(key.contents()));
        let text = format!("{CERT}\n{}", pem::encode(&pkcs1));
        let c = load(&text, AssertionAlg::Ps256);
        assert_eq!(c.sha1_hex(), SHA1_HEX);
        let jwt = c.assertion("app", "aud").unwrap();
        verify(jwt.expose_secret(), PUBKEY, Algorithm::PS256, "aud").unwrap();
    }

    #[test]
    fn missing_blocks_are_named_with_the_file() {
        let err = CertificateCredential::from_pem(
            CERT.as_bytes(),
            Path::new("/x/cert-only.pem"),
            AssertionAlg::Ps256,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/x/cert-only.pem") && err.contains("no private key"),
            "{err}"
        );

        let key_only: String = pem::parse_many(COMBINED)
            .unwrap()
            .iter()
            .filter(|b| b.tag() == "PRIVATE KEY")
            .map(pem::encode)
            .collect();
        let err = CertificateCredential::from_pem(
            key_only.as_bytes(),
            Path::new("/x/key.pem"),
            AssertionAlg::Ps256,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/x/key.pem") && err.contains("CERTIFICATE"),
            "{err}"
        );

        let err =
            CertificateCredential::load(Path::new("/nonexistent/dir/c.pem"), AssertionAlg::Ps256)
                .unwrap_err()
                .to_string();
        assert!(err.contains("/nonexistent/dir/c.pem"), "{err}");

        let err =
            CertificateCredential::from_pem(b"garbage", Path::new("g.pem"), AssertionAlg::Ps256)
                .unwrap_err()
                .to_string();
        assert!(err.contains("g.pem"), "{err}");
    }

    #[test]
    fn key_of_another_certificate_is_refused() {
        let other_key: String = pem::parse_many(OTHER_COMBINED)
            .unwrap()
            .iter()
            .filter(|b| b.tag() == "PRIVATE KEY")
            .map(pem::encode)
            .collect();
        let text = format!("{other_key}{CERT}");
        let err = CertificateCredential::from_pem(
            text.as_bytes(),
            Path::new("mixed.pem"),
            AssertionAlg::Ps256,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("does not belong"), "{err}");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let c = load(COMBINED, AssertionAlg::Ps256);
        let dbg = format!("{c:?}");
        assert!(
            dbg.contains(SHA1_HEX) && dbg.contains("[redacted]"),
            "{dbg}"
        );
        assert!(!dbg.contains("content"), "{dbg}");
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/certs")
            .join(name)
    }

    const PASSWORD: &str = "test-only-pass";

    #[test]
    fn pfx_and_encrypted_pem_give_the_same_credential() {
        let pass = SecretString::from(PASSWORD);
        for name in ["test.pfx", "test-legacy.pfx", "test-encrypted.pem"] {
            let c = CertificateCredential::load_with_password(
                &fixture(name),
                AssertionAlg::Ps256,
                Some(&pass),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.sha1_hex(), SHA1_HEX, "{name}");
            let jwt = c.assertion("app", "aud").unwrap();
            verify(jwt.expose_secret(), PUBKEY, Algorithm::PS256, "aud").unwrap();
        }
        // The unencrypted PEM still loads through the same entry point, password or not.
        for pass in [None, Some(&pass)] {
            let c = CertificateCredential::load_with_password(
                &fixture("test-combined.pem"),
                AssertionAlg::Rs256,
                pass,
            )
            .unwrap();
            assert_eq!(c.sha1_hex(), SHA1_HEX);
        }
    }

    #[test]
    fn missing_or_wrong_password_is_named_without_echoing_it() {
        let wrong = SecretString::from("not-the-Password-42");
        for name in ["test.pfx", "test-legacy.pfx", "test-encrypted.pem"] {
            let missing = CertificateCredential::load_with_password(
                &fixture(name),
                AssertionAlg::Ps256,
                None,
            )
            .unwrap_err()
            .to_string();
            assert!(
                missing.contains(name) && missing.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
                "{missing}"
            );
            let bad = CertificateCredential::load_with_password(
                &fixture(name),
                AssertionAlg::Ps256,
                Some(&wrong),
            )
            .unwrap_err()
            .to_string();
            assert!(
                bad.contains(name)
                    && bad.contains("password")
                    && bad.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
                "{bad}"
            );
            assert!(!bad.contains("not-the-Password-42"), "{bad}");
        }
    }

    #[test]
    fn binary_garbage_is_neither_pem_nor_pfx() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.pfx");
        std::fs::write(&path, [0x30u8, 0x82, 0x01, 0x00, 0xff, 0x00]).unwrap();
        let err = CertificateCredential::load_with_password(&path, AssertionAlg::Ps256, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("junk.pfx") && err.contains("PFX"), "{err}");
    }
}
