/*
 * A copy of each SoftHSM2 token's metadata file, token.object, in the
 * data directory's own tokens/ directory. token.object contains the
 * token's label, flags and the token key wrapped under the PINs.
 * SoftHSM2 2.6.1 rewrites it on every C_Login by truncating it first, so
 * a process killed between the truncation and the write leaves it empty,
 * and the token with every key in it can no longer be used. The copy
 * lets the next start restore it.
 *
 * Only DATA_DIR/tokens/NAME/ directories are handled. Token directories
 * elsewhere, and symbolic links under tokens/, are never touched.
 *
 * NOTE: the copy is made after each login of any HSM, and covers every
 * token directory. Another HSM's token may be read while SoftHSM2
 * rewrites it. An empty read is never copied, but a partly written file
 * would be.
 */
#ifndef HSM4SSL_DAEMON_SOFTHSM_TOKEN_GUARD_H
#define HSM4SSL_DAEMON_SOFTHSM_TOKEN_GUARD_H

/* Name of the token metadata file in a SoftHSM2 token directory. */
#define SOFTHSM_TOKEN_FILE "token.object"

/* Name of its copy beside it (mode 0600). SoftHSM2 2.6.1 takes only files
 * whose names end in ".object" for objects, so it ignores the copy. */
#define SOFTHSM_TOKEN_BACKUP_FILE "token.object.hsm4ssl-backup"

/*
 * Restores token.object from its copy in each token directory under
 * DATA_DIR/tokens where token.object is missing or empty, with a warning
 * that names the file and the time of the copy. A non-empty token.object
 * is never replaced. An empty token.object without a copy is logged as
 * an error. Call it before any PKCS#11 module loads, so that SoftHSM2
 * reads the restored file.
 */
void softhsm_token_guard_restore(const char *data_dir);

/*
 * Copies each non-empty token.object under DATA_DIR/tokens to
 * SOFTHSM_TOKEN_BACKUP_FILE beside it: a new file of mode 0600, synced,
 * renamed over the old copy, and the directory synced. Call it after each
 * login, so the copy contains what SoftHSM2 wrote last. A copy that
 * cannot be written is logged as a warning.
 */
void softhsm_token_guard_back_up(const char *data_dir);

#endif
