#include "server/x509.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>

#include "base/crypto.h"
#include "server/host_names.h"

namespace iothub::server::x509 {
namespace {

// OpenSSL's most recent error as text, clearing its error queue.
std::string OpenSslError() {
  std::string text;
  while (unsigned long err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    text = buf;  // keep the last (outermost) one
  }
  return text.empty() ? "unknown OpenSSL error" : text;
}

Status Failed(const std::string& what) { return Internal(what + ": " + OpenSslError()); }

time_t ToTimeT(Timestamp t) { return static_cast<time_t>(ToUnixMillis(t) / 1000); }

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, BioFree>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// Never prompts for a passphrase: an encrypted key fails to load instead of blocking start-up.
int NoPassphrase(char*, int, int, void*) { return 0; }

Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return Failed("cannot build extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return Failed("cannot add extension " + value);
  return Status::Ok();
}

Status SetRandomSerial(X509* cert) {
  std::string bytes = RandomBytes(16);
  bytes[0] = static_cast<char>((bytes[0] & 0x7f) | 0x40);  // positive, and 16 bytes long
  BIGNUM* bn = BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr);
  bool ok = bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok ? Status::Ok() : Failed("cannot set serial number");
}

}  // namespace

void KeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
void CertFree::operator()(X509* cert) const { X509_free(cert); }

Result<Key> GenerateEcKey() {
  Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return Failed("cannot generate an EC P-256 key");
  return key;
}

Result<Cert> Issue(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                   EVP_PKEY* issuer_key) {
  Cert cert(X509_new());
  if (!cert) return Failed("cannot allocate a certificate");
  X509* x = cert.get();
  if (issuer == nullptr) issuer_key = subject_key;
  X509* issuer_cert = issuer != nullptr ? issuer : x;

  X509_NAME* name = X509_get_subject_name(x);
  auto add_entry = [&](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                      0) == 1;
  };
  bool ok = X509_set_version(x, X509_VERSION_3) == 1 && add_entry("O", "iothub") &&
            add_entry("CN", spec.common_name) &&
            X509_set_issuer_name(x, X509_get_subject_name(issuer_cert)) == 1 &&
            ASN1_TIME_set(X509_getm_notBefore(x), ToTimeT(spec.not_before)) != nullptr &&
            ASN1_TIME_set(X509_getm_notAfter(x), ToTimeT(spec.not_after)) != nullptr &&
            X509_set_pubkey(x, subject_key) == 1;
  if (!ok) return Failed("cannot fill in certificate " + spec.common_name);
  HUB_RETURN_IF_ERROR(SetRandomSerial(x));

  if (spec.is_ca) {
    HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_basic_constraints, "critical,CA:TRUE"));
    HUB_RETURN_IF_ERROR(
        AddExtension(x, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_basic_constraints, "critical,CA:FALSE"));
    // digitalSignature is what ECDHE-ECDSA needs; keyEncipherment is meaningless for EC keys
    // (RFC 5480) and strict clients reject it.
    HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_key_usage, "critical,digitalSignature"));
    HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_ext_key_usage, "serverAuth"));
    if (!spec.subject_alt_names.empty()) {
      std::string sans;
      for (const std::string& san : spec.subject_alt_names) {
        if (!sans.empty()) sans += ",";
        sans += san;
      }
      HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_subject_alt_name, sans));
    }
  }
  HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_subject_key_identifier, "hash"));
  HUB_RETURN_IF_ERROR(AddExtension(x, issuer_cert, NID_authority_key_identifier, "keyid:always"));
  if (X509_sign(x, issuer_key, EVP_sha256()) == 0) {
    return Failed("cannot sign certificate " + spec.common_name);
  }
  return cert;
}

Result<std::string> KeyToPem(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Failed("cannot encode private key");
  }
  return BioText(bio.get());
}

Result<std::string> CertToPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return Failed("cannot encode certificate");
  return BioText(bio.get());
}

Result<Key> KeyFromPem(std::string_view pem, std::string_view source) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Key key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!key) {
    return InvalidArgument(std::string(source) +
                           " holds no unencrypted PEM private key: " + OpenSslError());
  }
  return key;
}

Result<Cert> CertFromPem(std::string_view pem, std::string_view source) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (!cert) {
    return InvalidArgument(std::string(source) + " holds no PEM certificate: " + OpenSslError());
  }
  return cert;
}

bool KeyMatches(X509* cert, EVP_PKEY* key) {
  bool ok = X509_check_private_key(cert, key) == 1;
  ERR_clear_error();
  return ok;
}

std::vector<std::string> SubjectAltNames(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const ASN1_STRING* s = gn->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         static_cast<size_t>(ASN1_STRING_length(s))));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(s);
      int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family != 0 && inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text))) {
        out.push_back(std::string("IP:") + text);
      }
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

bool CoversHost(X509* cert, std::string_view host) {
  std::string h(host);
  bool ok = IsIpAddress(h) ? X509_check_ip_asc(cert, h.c_str(), 0) == 1
                           : X509_check_host(cert, h.data(), h.size(),
                                             X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr) == 1;
  ERR_clear_error();
  return ok;
}

Timestamp NotAfter(X509* cert) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return FromUnixMillis(0);
  return FromUnixMillis(static_cast<int64_t>(timegm(&tm)) * 1000);
}

Status VerifyServerCert(X509* leaf, X509* ca, Timestamp at) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  Status result = Status::Ok();
  if (store == nullptr || ctx == nullptr || X509_STORE_add_cert(store, ca) != 1 ||
      X509_STORE_CTX_init(ctx, store, leaf, nullptr) != 1) {
    result = Failed("cannot set up certificate verification");
  } else {
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, ToTimeT(at));
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    if (X509_verify_cert(ctx) != 1) {
      result = InvalidArgument(X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    }
  }
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  return result;
}

}  // namespace iothub::server::x509
