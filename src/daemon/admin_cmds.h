/*
 * Administrative commands of hsm4ssld that run without the API.
 */
#ifndef HSM4SSL_DAEMON_ADMIN_CMDS_H
#define HSM4SSL_DAEMON_ADMIN_CMDS_H

/* Each returns the process exit status: 0 success, 1 failure. */
int admin_check_config(const char *data_dir);
int admin_list_hsms(const char *data_dir);

#endif
