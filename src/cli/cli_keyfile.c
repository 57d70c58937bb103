#include "cli/cli_keyfile.h"

#include "cli/cli_exit.h"
#include "cli/cli_pem.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

int
cli_keyfile_generate(const struct cli_keyspec *spec, EVP_PKEY **key)
{
    if (spec->type == CLI_KEY_EC)
        *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", spec->curve);
    else
        *key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)spec->bits);
    if (*key == NULL)
        return cli_fail_openssl(CLI_EXIT_LOCAL,
                                "cannot generate the %s %d key",
                                cli_keyspec_type_name(spec->type),
                                spec->bits);
    return CLI_EXIT_OK;
}

int
cli_keyfile_encrypt(EVP_PKEY *key, const char *cipher_name,
                    const char *passphrase, char **pem, size_t *len)
{
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, cipher_name, NULL);
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = CLI_EXIT_LOCAL;

    *pem = NULL;
    if (cipher == NULL || bio == NULL) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL, "cipher %s is not available",
                              cipher_name);
        goto out;
    }
    if (PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, passphrase,
                                      (int)strlen(passphrase), NULL,
                                      NULL) != 1) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot encrypt the private key with %s",
                              cipher_name);
        goto out;
    }
    if (cli_pem_bio_to_string(bio, pem, len) != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    BIO_free(bio);
    EVP_CIPHER_free(cipher);
    return rc;
}

static int
build_request(X509_REQ *req, EVP_PKEY *key, const char *name,
              const char *digest_name)
{
    X509_NAME *subject = X509_REQ_get_subject_name(req);
    EVP_MD *digest = EVP_MD_fetch(NULL, digest_name, NULL);
    int ok = 0;

    if (digest == NULL)
        goto out;
    if (X509_REQ_set_version(req, 0) != 1 ||
        X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                   (const unsigned char *)name, -1, -1,
                                   0) != 1 ||
        X509_REQ_set_pubkey(req, key) != 1 ||
        X509_REQ_sign(req, key, digest) <= 0)
        goto out;
    ok = 1;
out:
    EVP_MD_free(digest);
    return ok;
}

int
cli_keyfile_make_csr(EVP_PKEY *key, const char *name, const char *digest,
                     char **pem, size_t *len)
{
    X509_REQ *req = X509_REQ_new();
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = CLI_EXIT_LOCAL;

    *pem = NULL;
    if (req == NULL || bio == NULL || !build_request(req, key, name, digest)
        || PEM_write_bio_X509_REQ(bio, req) != 1) {
        rc = cli_fail_openssl(CLI_EXIT_LOCAL,
                              "cannot build the CSR for CN=%s with %s", name,
                              digest);
        goto out;
    }
    if (cli_pem_bio_to_string(bio, pem, len) != 0) {
        rc = cli_fail(CLI_EXIT_LOCAL, "out of memory");
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    BIO_free(bio);
    X509_REQ_free(req);
    return rc;
}

int
cli_keyfile_decrypt(const char *pem, size_t len, const char *passphrase,
                    const char *path, EVP_PKEY **key)
{
    BIO *bio = NULL;
    int rc = CLI_EXIT_LOCAL;

    *key = NULL;
    if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
        rc = cli_fail(CLI_EXIT_LOCAL, "cannot read %s: out of memory",
                      path);
        goto out;
    }
    /* With no callback, OpenSSL takes the last argument as the
     * passphrase. */
    *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)passphrase);
    if (*key == NULL) {
        /* OpenSSL reports a wrong passphrase as "bad decrypt", which is
         * less specific than this message. */
        ERR_clear_error();
        rc = cli_fail(CLI_EXIT_LOCAL,
                      "cannot decrypt %s: wrong passphrase or not an "
                      "encrypted private key; give the passphrase it was "
                      "made with (-passin)", path);
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    BIO_free(bio);
    return rc;
}
