/* Built as libgnutls.so.30: gives gnutls-client a DT_NEEDED on "GnuTLS"
 * without GnuTLS installed, so `pinshim run` must warn about it. */
int gnutls_global_init(void);

int gnutls_global_init(void)
{
	return 0;
}
