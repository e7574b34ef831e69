/* Stands in for libpinshim.so where a test checks only what `pinshim run`
 * puts in the environment: loading it does nothing. */
int pinshim_fake_preload(void);

int pinshim_fake_preload(void)
{
	return 0;
}
