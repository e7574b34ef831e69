/* A program linked to (a stand-in for) GnuTLS instead of OpenSSL. */
int gnutls_global_init(void);

int main(void)
{
	return gnutls_global_init();
}
